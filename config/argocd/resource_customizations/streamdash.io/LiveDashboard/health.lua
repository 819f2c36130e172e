-- Argo CD health of a streamdash LiveDashboard, from its kstatus conditions.
-- A dashboard has nothing to pause, so it is never Suspended.
local hs = {}

local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then
      return c
    end
  end
  return nil
end

local function say(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

-- A stalled pass may leave status.observedGeneration behind, so Stalled
-- counts when its own observedGeneration is current.
local generation = obj.metadata.generation
local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" and
    (generation == nil or stalled.observedGeneration == nil or stalled.observedGeneration >= generation) then
  hs.status = "Degraded"
  hs.message = say(stalled, "Stalled")
  return hs
end

local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = say(reconciling, "Reconciling")
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = say(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = say(ready, "Waiting for the dashboard to become ready")
return hs
