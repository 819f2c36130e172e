package rockset

import "testing"

func TestPlanScopedKey(t *testing.T) {
	desired := QueryOneCollection("sd-dash", "streamdash LiveDashboard ns/d", "commons", "tweets")
	const held = "0123456789abcdef"
	otherColl := QueryOneCollection("sd-dash", "", "commons", "other")
	active := &APIKey{Name: "sd-dash", Role: "sd-dash", State: KeyActive, Key: "abcdef"}
	with := func(mut func(*APIKey)) *APIKey { k := *active; mut(&k); return &k }
	tests := []struct {
		name string
		role *Role
		key  *APIKey
		held string
		want ScopedKeyPlan
	}{
		{name: "nothing yet", want: ScopedKeyPlan{CreateRole: true, CreateKey: true}},
		{name: "all in place", role: &desired, key: active, held: held, want: ScopedKeyPlan{}},
		{name: "same privileges in another order, repeated", role: &Role{Name: "sd-dash", Privileges: append(desired.Privileges, desired.Privileges...)},
			key: active, held: held, want: ScopedKeyPlan{}},
		{name: "a masked hint", role: &desired, key: with(func(k *APIKey) { k.Key = "**********abcdef" }), held: held, want: ScopedKeyPlan{}},
		{name: "a server that shows no hint is believed", role: &desired, key: with(func(k *APIKey) { k.Key = "" }), held: held, want: ScopedKeyPlan{}},
		{name: "the pipeline's collection changed", role: &otherColl, key: active, held: held, want: ScopedKeyPlan{UpdateRole: true}},
		{name: "role gone, key kept", key: active, held: held, want: ScopedKeyPlan{CreateRole: true}},
		{name: "key exists but its value was lost", role: &desired, key: active, held: "", want: ScopedKeyPlan{DeleteKey: true, CreateKey: true}},
		{name: "the held key is another one", role: &desired, key: active, held: "0123456789zzzzzz", want: ScopedKeyPlan{DeleteKey: true, CreateKey: true}},
		{name: "the key holds another role", role: &desired, key: with(func(k *APIKey) { k.Role = "admin" }), held: held, want: ScopedKeyPlan{DeleteKey: true, CreateKey: true}},
		{name: "suspended by someone: left to them", role: &desired, key: with(func(k *APIKey) { k.State = KeySuspended }), held: held, want: ScopedKeyPlan{Suspended: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanScopedKey(desired, tc.role, tc.key, tc.held)
			if got != tc.want {
				t.Errorf("PlanScopedKey() = %+v, want %+v", got, tc.want)
			}
			if got.Done() != (tc.want == ScopedKeyPlan{}) {
				t.Errorf("Done() = %v", got.Done())
			}
		})
	}
}
