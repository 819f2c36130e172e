package kinesis

// Desired is what a TwitterPipeline asks of its stream.
type Desired struct {
	// Shards is the wanted number of open shards (at least 1).
	Shards int32
	// RetentionHours is the wanted retention; 0 leaves the stream's as it is,
	// so an adopted stream keeps the retention its owner chose.
	RetentionHours int32
	// Tags must be present with these values; other tags are left alone.
	Tags map[string]string
}

// ActionKind is the one change to make to a stream on this pass.
type ActionKind int

const (
	// ActionNone: the stream is as desired.
	ActionNone ActionKind = iota
	// ActionWait: the stream is not ACTIVE; read it again later.
	ActionWait
	// ActionAddTags: add or correct Action.Tags.
	ActionAddTags
	// ActionIncreaseRetention, ActionDecreaseRetention: set Action.RetentionHours.
	ActionIncreaseRetention
	ActionDecreaseRetention
	// ActionUpdateShards: rescale to Action.Shards, one step towards the desired count.
	ActionUpdateShards
)

func (k ActionKind) String() string {
	switch k {
	case ActionWait:
		return "Wait"
	case ActionAddTags:
		return "AddTags"
	case ActionIncreaseRetention:
		return "IncreaseRetention"
	case ActionDecreaseRetention:
		return "DecreaseRetention"
	case ActionUpdateShards:
		return "UpdateShards"
	default:
		return "None"
	}
}

// Action is one change to a stream.
type Action struct {
	Kind           ActionKind
	Shards         int32
	RetentionHours int32
	Tags           map[string]string
}

// NextAction chooses the single next change that moves observed towards
// desired. Kinesis accepts a change only on an ACTIVE stream and each change
// makes it UPDATING again, so changes go one per pass, cheapest first: tags,
// retention, then shards. An on-demand stream has no shard count to set.
func NextAction(d Desired, observed Stream) Action {
	if observed.Status != StatusActive {
		return Action{Kind: ActionWait}
	}
	if missing := MissingTags(d.Tags, observed.Tags); len(missing) > 0 {
		return Action{Kind: ActionAddTags, Tags: missing}
	}
	if d.RetentionHours > 0 && d.RetentionHours != observed.RetentionHours {
		kind := ActionIncreaseRetention
		if d.RetentionHours < observed.RetentionHours {
			kind = ActionDecreaseRetention
		}
		return Action{Kind: kind, RetentionHours: d.RetentionHours}
	}
	if observed.Mode != ModeOnDemand && d.Shards > 0 && d.Shards != observed.OpenShards {
		return Action{Kind: ActionUpdateShards, Shards: NextShardCount(d.Shards, observed.OpenShards)}
	}
	return Action{Kind: ActionNone}
}

// NextShardCount is the next UpdateShardCount target from current towards
// desired within Kinesis's rule for one call: at most double, at least half
// (rounded up) of the current open shards.
func NextShardCount(desired, current int32) int32 {
	switch {
	case current <= 0 || desired == current:
		return desired
	case desired > current:
		return min(desired, 2*current)
	default:
		return max(desired, (current+1)/2)
	}
}

// ShardSteps is how many UpdateShardCount calls it takes from current to desired.
func ShardSteps(desired, current int32) int {
	n := 0
	for current != desired && current > 0 && n < 64 {
		current = NextShardCount(desired, current)
		n++
	}
	return n
}

// MissingTags returns the desired tags that observed lacks or holds with another value.
func MissingTags(desired, observed map[string]string) map[string]string {
	var out map[string]string
	for k, v := range desired {
		if ov, ok := observed[k]; !ok || ov != v {
			if out == nil {
				out = make(map[string]string, len(desired))
			}
			out[k] = v
		}
	}
	return out
}
