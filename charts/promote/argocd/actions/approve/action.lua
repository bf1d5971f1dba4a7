-- Approves the version the source runs now (status.source.version); with a Manual trigger the
-- operator promotes only that version, and only while the source still runs it.
if obj.status == nil or obj.status.source == nil or obj.status.source.version == nil then
  error("the Promotion reports no source version to approve", 0)
end
local version = obj.status.source.version
obj.spec.approval = {
  ["version"] = version,
  ["approvedBy"] = "argocd",
  ["note"] = "approved " .. version .. " in Argo CD"
}
return obj
