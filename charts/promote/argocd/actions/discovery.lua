-- Actions Argo CD offers on a Promotion. Each only edits the spec; the operator does the rest.
local actions = {}

local phase = nil
local source_version = nil
local target_version = nil
if obj.status ~= nil then
  phase = obj.status.phase
  if obj.status.source ~= nil then
    source_version = obj.status.source.version
  end
  if obj.status.target ~= nil then
    target_version = obj.status.target.version
  end
end
local in_flight = phase == "Promoting" or phase == "Syncing" or phase == "Verifying"
-- The spec, not the phase: the status lags right after a suspend or a resume.
local suspended = obj.spec.suspend == true

-- Approve only while the operator reports a version waiting for a person.
actions["approve"] = {["disabled"] = not (phase == "AwaitingApproval" and source_version ~= nil)}
actions["suspend"] = {["disabled"] = suspended}
actions["resume"] = {["disabled"] = not suspended}
-- Reset the source to the target's version: only when they differ and nothing is in flight.
actions["reset"] = {["disabled"] = in_flight or source_version == nil or source_version == target_version}

return actions
