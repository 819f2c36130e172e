package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus: Ready is the
// summary, Reconciling means work is under way, Stalled means the user must
// change something before progress is possible.
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"

	// TwitterPipeline parts.
	ConditionStreamReady     = "StreamReady"
	ConditionCollectionReady = "CollectionReady"
	ConditionProducerReady   = "ProducerReady"

	// LiveDashboard queries.
	ConditionQueriesHealthy = "QueriesHealthy"
)

// Finalizer is the finalizer the operator puts on a TwitterPipeline so that
// its stream, integration and collection are cleaned up per deletionPolicy,
// and on a LiveDashboard so that its Rockset API key and role are deleted.
const Finalizer = "streamdash.io/cleanup"
