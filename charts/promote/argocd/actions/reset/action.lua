-- Asks the operator to reset the source to the target's version (dev to the prod baseline):
-- one commit to the source's release file, verified on the source's Application. The operator
-- refuses it while a promotion is in flight. A spec change raises the generation, so each
-- request gets a new id.
local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
obj.spec.reset = {
  ["id"] = "argocd-" .. tostring(generation),
  ["requestedBy"] = "argocd"
}
return obj
