package kinesis

import (
	"maps"
	"testing"
)

func TestNextShardCount(t *testing.T) {
	tests := []struct {
		name             string
		desired, current int32
		// want is the next UpdateShardCount target.
		want int32
	}{
		{name: "equal", desired: 4, current: 4, want: 4},
		{name: "up within double", desired: 3, current: 2, want: 3},
		{name: "up exactly double", desired: 4, current: 2, want: 4},
		{name: "up beyond double stops at double", desired: 10, current: 2, want: 4},
		{name: "up from one", desired: 100, current: 1, want: 2},
		{name: "down within half", desired: 3, current: 4, want: 3},
		{name: "down exactly half", desired: 2, current: 4, want: 2},
		{name: "down beyond half stops at half", desired: 1, current: 8, want: 4},
		{name: "down from odd rounds half up", desired: 1, current: 3, want: 2},
		{name: "down from two to one", desired: 1, current: 2, want: 1},
		{name: "unknown current goes straight to desired", desired: 5, current: 0, want: 5},
		{name: "large up", desired: 10000, current: 6000, want: 10000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextShardCount(tc.desired, tc.current); got != tc.want {
				t.Errorf("NextShardCount(%d, %d) = %d, want %d", tc.desired, tc.current, got, tc.want)
			}
		})
	}
}

func TestShardSteps(t *testing.T) {
	tests := []struct {
		name             string
		desired, current int32
		want             int
	}{
		{name: "none", desired: 2, current: 2, want: 0},
		{name: "one doubling", desired: 2, current: 1, want: 1},
		{name: "1 to 10 is 1-2-4-8-10", desired: 10, current: 1, want: 4},
		{name: "16 to 1 is 16-8-4-2-1", desired: 1, current: 16, want: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShardSteps(tc.desired, tc.current); got != tc.want {
				t.Errorf("ShardSteps(%d, %d) = %d, want %d", tc.desired, tc.current, got, tc.want)
			}
		})
	}
}

func TestNextAction(t *testing.T) {
	owner := map[string]string{"streamdash.io/pipeline": "team/demo"}
	active := func(shards, retention int32, tags map[string]string) Stream {
		return Stream{Name: "s", Status: StatusActive, Mode: ModeProvisioned, OpenShards: shards, RetentionHours: retention, Tags: tags}
	}
	tests := []struct {
		name     string
		desired  Desired
		observed Stream
		// want is the single change to make on this pass.
		want Action
	}{
		{
			name:     "as desired",
			desired:  Desired{Shards: 2, RetentionHours: 48, Tags: owner},
			observed: active(2, 48, map[string]string{"streamdash.io/pipeline": "team/demo", "other": "x"}),
			want:     Action{Kind: ActionNone},
		},
		{
			name:     "creating: wait",
			desired:  Desired{Shards: 4, Tags: owner},
			observed: Stream{Status: StatusCreating},
			want:     Action{Kind: ActionWait},
		},
		{
			name:     "updating: wait even though shards differ",
			desired:  Desired{Shards: 4, Tags: owner},
			observed: Stream{Status: StatusUpdating, OpenShards: 2, Tags: owner},
			want:     Action{Kind: ActionWait},
		},
		{
			name:     "tags first, only the missing or wrong ones",
			desired:  Desired{Shards: 4, Tags: map[string]string{"a": "1", "b": "2"}},
			observed: active(1, 24, map[string]string{"a": "1", "b": "old"}),
			want:     Action{Kind: ActionAddTags, Tags: map[string]string{"b": "2"}},
		},
		{
			name:     "retention up before shards",
			desired:  Desired{Shards: 4, RetentionHours: 72, Tags: owner},
			observed: active(1, 24, owner),
			want:     Action{Kind: ActionIncreaseRetention, RetentionHours: 72},
		},
		{
			name:     "retention down",
			desired:  Desired{Shards: 1, RetentionHours: 24, Tags: owner},
			observed: active(1, 168, owner),
			want:     Action{Kind: ActionDecreaseRetention, RetentionHours: 24},
		},
		{
			name:     "unset retention leaves an adopted stream's alone",
			desired:  Desired{Shards: 1, Tags: owner},
			observed: active(1, 168, owner),
			want:     Action{Kind: ActionNone},
		},
		{
			name:     "shards: one doubling step",
			desired:  Desired{Shards: 5, Tags: owner},
			observed: active(2, 24, owner),
			want:     Action{Kind: ActionUpdateShards, Shards: 4},
		},
		{
			name:     "shards: one halving step",
			desired:  Desired{Shards: 1, Tags: owner},
			observed: active(4, 24, owner),
			want:     Action{Kind: ActionUpdateShards, Shards: 2},
		},
		{
			name:     "on-demand stream has no shard count to set",
			desired:  Desired{Shards: 3, Tags: owner},
			observed: Stream{Status: StatusActive, Mode: ModeOnDemand, OpenShards: 4, RetentionHours: 24, Tags: owner},
			want:     Action{Kind: ActionNone},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NextAction(tc.desired, tc.observed)
			if got.Kind != tc.want.Kind || got.Shards != tc.want.Shards ||
				got.RetentionHours != tc.want.RetentionHours || !maps.Equal(got.Tags, tc.want.Tags) {
				t.Errorf("NextAction() = %+v (%s), want %+v (%s)", got, got.Kind, tc.want, tc.want.Kind)
			}
		})
	}
}
