-- Actions Argo CD offers on a Promotion. Each only edits the spec; the operator does the rest.
local actions = {}

local phase = nil
local source_version = nil
if obj.status ~= nil then
  phase = obj.status.phase
  if obj.status.source ~= nil then
    source_version = obj.status.source.version
  end
end
-- The spec, not the phase: the status lags right after a suspend or a resume.
local suspended = obj.spec.suspend == true

-- Approve only while the operator reports a version waiting for a person.
actions["approve"] = {["disabled"] = not (phase == "AwaitingApproval" and source_version ~= nil)}
actions["suspend"] = {["disabled"] = suspended}
actions["resume"] = {["disabled"] = not suspended}

return actions
