package argocd

import (
	"encoding/json"
	"fmt"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// RunHealth runs a health script the way Argo CD does: the object as the
// global `obj`, only the safe standard libraries, the returned table read
// for status and message.
func RunHealth(script string, obj map[string]any) (healthStatus, message string, err error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(script); err != nil {
		return "", "", fmt.Errorf("health script failed: %w", err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("health script returned %s, want a table", L.Get(-1).Type())
	}
	return lua.LVAsString(ret.RawGetString("status")), lua.LVAsString(ret.RawGetString("message")), nil
}

// toLua converts decoded JSON the way Argo CD's luajson does: objects and
// arrays become tables (arrays 1-based), numbers LNumber.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(x)
	case float64:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case bool:
		return lua.LBool(x)
	}
	return lua.LNil
}

// KstatusFor is the kstatus (cli-utils) status that agrees with an Argo CD
// health status. A paused pipeline (Suspended) is as its spec asks: Current.
var KstatusFor = map[string]status.Status{
	"Healthy":     status.CurrentStatus,
	"Suspended":   status.CurrentStatus,
	"Progressing": status.InProgressStatus,
	"Degraded":    status.FailedStatus,
}

// CheckAgreement computes obj's health with its kind's script and its
// kstatus the way Flux, kpt and `kubectl wait` read it, and returns an error
// when the two disagree. obj is the object as JSON decodes it.
func CheckAgreement(obj map[string]any) (health string, ks status.Status, err error) {
	kind, _ := obj["kind"].(string)
	script, err := HealthScript(kind)
	if err != nil {
		return "", "", err
	}
	health, msg, err := RunHealth(script, obj)
	if err != nil {
		return "", "", err
	}
	// Decode as the API machinery does (whole numbers as int64), which kstatus expects.
	raw, err := json.Marshal(obj)
	if err != nil {
		return health, "", err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(raw); err != nil {
		return health, "", err
	}
	res, err := status.Compute(u)
	if err != nil {
		return health, "", fmt.Errorf("kstatus: %w", err)
	}
	if want, ok := KstatusFor[health]; !ok || want != res.Status {
		return health, res.Status, fmt.Errorf("Argo CD says %s (%q) but kstatus says %s (%q)", health, msg, res.Status, res.Message)
	}
	return health, res.Status, nil
}
