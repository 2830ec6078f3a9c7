-- job_submit.lua for clusters driven by Quartermaster.
--
-- Slurm 22.05 counts a GPU request without a type ("--gres=gpu:2", "--gpus=2") only against
-- gres/gpu, never against gres/gpu:<type>, so a QOS limit GrpTRES=gres/gpu:a100=0 does not stop
-- an untyped job from running on a100s. Quartermaster grants per GPU type, so jobs under a
-- Quartermaster QOS (named qm-*) must name the type; this plugin refuses the untyped ones with
-- a message that says how to fix the request. Jobs under other QOS are left alone.

local function untyped_gpu(spec)
    if spec == nil then return false end
    for item in string.gmatch(spec, "[^,]+") do
        -- "gres:gpu:2" or "gres:gpu" is untyped; "gres:gpu:h100:2" is typed.
        local rest = string.match(item, "^gres:gpu(.*)$") or string.match(item, "^gpu(.*)$")
        if rest ~= nil and (rest == "" or string.match(rest, "^:%d+$")) then return true end
    end
    return false
end

function slurm_job_submit(job_desc, part_list, submit_uid)
    local qos = job_desc.qos
    if qos == nil or string.sub(qos, 1, 3) ~= "qm-" then return slurm.SUCCESS end
    for _, field in ipairs({"tres_per_node", "tres_per_job", "tres_per_socket", "tres_per_task"}) do
        if untyped_gpu(job_desc[field]) then
            slurm.log_user("QOS %s is granted per GPU type: request --gres=gpu:<type>:N (e.g. gpu:h100:2)", qos)
            return slurm.ERROR
        end
    end
    return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
    return slurm.SUCCESS
end

return slurm.SUCCESS
