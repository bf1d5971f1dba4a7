-- Argo CD health of a promote.dev/v1alpha1 Promotion, from the status the operator writes.
-- A lane that waits for a person (AwaitingApproval) or a gate (Gated) is Healthy: waiting is
-- its normal state, not a failure.
local hs = {}

local function condition(status, type)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

-- The first of the candidates that is a non-empty string.
local function first(...)
  for i = 1, select("#", ...) do
    local m = select(i, ...)
    if type(m) == "string" and m ~= "" then
      return m
    end
  end
  return nil
end

local function message_of(c)
  if c == nil then
    return nil
  end
  return c.message
end

local function version_of(env)
  if env == nil then
    return nil
  end
  return env.version
end

local status = obj.status
local generation = obj.metadata.generation

-- A status computed from an older spec says nothing about the current one.
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Promote operator to report status"
  return hs
end
if generation ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the Promote operator to observe generation " .. generation
    .. " (status is from generation " .. status.observedGeneration .. ")"
  return hs
end

local phase = status.phase
local stalled = condition(status, "Stalled")
local policy = condition(status, "PolicyCompliant")
local ready = condition(status, "Ready")

-- Failures come before in-flight phases: a stalled lane will not finish its promotion.
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = first(message_of(stalled), status.message, "The lane is stalled: its spec cannot be acted on")
  return hs
end
if phase == "Failed" or phase == "RolledBack" then
  hs.status = "Degraded"
  hs.message = first(status.message, message_of(ready), "The last promotion " .. (phase == "Failed" and "failed" or "was rolled back"))
  return hs
end
if policy ~= nil and policy.status == "False" then
  hs.status = "Degraded"
  hs.message = first(message_of(policy), "An Application's self-heal setting is not what the lane expects")
  return hs
end

if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = first(status.message, "Suspended: nothing is committed until spec.suspend is cleared")
  return hs
end

if phase == "Promoting" or phase == "Syncing" or phase == "Verifying" then
  hs.status = "Progressing"
  hs.message = first(status.message, message_of(ready), phase)
  return hs
end

if phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Promote operator to report a phase"
  return hs
end

local source_version = version_of(status.source)
local target_version = version_of(status.target)
local pin = obj.spec.pin
local at_goal = target_version ~= nil
  and (target_version == source_version or (pin ~= nil and target_version == pin))

hs.status = "Healthy"
if ready ~= nil and ready.status == "True" and at_goal then
  hs.message = first(status.message, message_of(ready), "The target runs " .. target_version)
elseif phase == "AwaitingApproval" then
  hs.message = "Awaiting approval: " .. first(status.message, message_of(ready), "a new version waits for a person's approval")
elseif phase == "Gated" then
  hs.message = "Gated: " .. first(status.message, message_of(ready), "a gate holds the next version")
else
  hs.message = "Waiting: " .. first(status.message, message_of(ready), phase)
end
-- Live drift is reported, not judged: a hot-reload session on dev is expected to drift.
-- Release drift is left out: the phase message already says which version waits.
if status.drift ~= nil then
  for _, side in ipairs({"source", "target"}) do
    local d = status.drift[side]
    if d ~= nil and d.gitVsLive == "OutOfSync" then
      hs.message = hs.message .. " (" .. side .. " drifts from Git: " .. first(d.reason, "OutOfSync") .. ")"
    end
  end
end
return hs
