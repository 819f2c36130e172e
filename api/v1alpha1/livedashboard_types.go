package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LiveDashboardSpec is a live web dashboard over a TwitterPipeline's
// collection, and the same queries written back into status.
type LiveDashboardSpec struct {
	// pipelineRef names the TwitterPipeline, in the same namespace, whose
	// collection the dashboard reads.
	// +required
	PipelineRef LocalObjectReference `json:"pipelineRef"`

	// hashtag selects the Hashtag view for this hashtag (without the leading
	// #, compared case-insensitively). Empty: the Tweets view.
	// +optional
	// +kubebuilder:validation:MaxLength=139
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('#')",message="hashtag is written without the leading #"
	// +kubebuilder:validation:XValidation:rule="!self.matches('[[:space:]]')",message="hashtag cannot contain whitespace"
	Hashtag string `json:"hashtag,omitempty"`

	// window is how far back every panel looks, from 1m to 720h. Default 1h.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('720h')",message="window must be between 1m and 720h"
	Window *metav1.Duration `json:"window,omitempty"`

	// topN bounds every list in the dashboard and in status, 1 to 20. Default 8.
	// +optional
	// +kubebuilder:default=8
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	TopN int32 `json:"topN,omitempty"`

	// refreshInterval is how often the results in status are refreshed, at
	// least 10s. Default 30s. Browsers refresh every 2 s on their own.
	// +optional
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s')",message="refreshInterval must be at least 10s"
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`

	// service exposes the dashboard.
	// +optional
	// +kubebuilder:default={}
	Service DashboardService `json:"service,omitempty"`
}

// DashboardService is the dashboard's Service.
type DashboardService struct {
	// type of the Service: ClusterIP (default), NodePort or LoadBalancer.
	// +optional
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	Type string `json:"type,omitempty"`

	// port the Service listens on. Default 80.
	// +optional
	// +kubebuilder:default=80
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// HashtagCount is a hashtag and the number of tweets that carry it.
type HashtagCount struct {
	// hashtag, lower-cased, without #.
	Hashtag string `json:"hashtag"`
	// tweetCount is the number of tweets in the window that carry it.
	TweetCount int64 `json:"tweetCount"`
}

// Influencer is a user who tweeted the hashtag.
type Influencer struct {
	// screenName is the user's handle.
	ScreenName string `json:"screenName"`
	// followersCount is the user's follower count.
	FollowersCount int64 `json:"followersCount"`
}

// LiveDashboardStatus holds the latest query results and the dashboard's health.
type LiveDashboardStatus struct {
	// observedGeneration is the generation of the spec that the last
	// successful reconcile acted on.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the dashboard serves and the last queries
	// succeeded), QueriesHealthy, Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// url is the dashboard Service's in-cluster URL.
	// +optional
	URL string `json:"url,omitempty"`

	// lastRefreshTime is when the results below were queried.
	// +optional
	LastRefreshTime *metav1.Time `json:"lastRefreshTime,omitempty"`

	// queryLatencyMillis is the total latency of the last refresh's queries.
	// +optional
	QueryLatencyMillis int64 `json:"queryLatencyMillis,omitempty"`

	// tweetsLastMinute is the number of tweets (with the hashtag, in the
	// Hashtag view) in the last minute.
	// +optional
	TweetsLastMinute int64 `json:"tweetsLastMinute,omitempty"`

	// tweetsPerMinute is the average rate (with the hashtag, in the Hashtag
	// view) over the last ten minutes, or over the window if it is shorter;
	// when the data is younger than that, over the time since the oldest
	// tweet (at least a minute).
	// +optional
	TweetsPerMinute int64 `json:"tweetsPerMinute,omitempty"`

	// topHashtags are the hashtags in most tweets in the window, at most topN.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	TopHashtags []HashtagCount `json:"topHashtags,omitempty"`

	// relatedHashtags (Hashtag view) are the hashtags that appear most often
	// with the hashtag, at most topN.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	RelatedHashtags []HashtagCount `json:"relatedHashtags,omitempty"`

	// influencers (Hashtag view) are the users with the most followers who
	// tweeted the hashtag, at most topN.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	Influencers []Influencer `json:"influencers,omitempty"`
}

// LiveDashboard is a live web dashboard over a TwitterPipeline, with its
// latest results in status so that `kubectl get dashboards` shows them.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ld;dashboard;dashboards,categories=streamdash
// +kubebuilder:printcolumn:name="Pipeline",type=string,JSONPath=`.spec.pipelineRef.name`
// +kubebuilder:printcolumn:name="Hashtag",type=string,JSONPath=`.spec.hashtag`
// +kubebuilder:printcolumn:name="Top Hashtag",type=string,JSONPath=`.status.topHashtags[0].hashtag`
// +kubebuilder:printcolumn:name="Tweets/min",type=integer,JSONPath=`.status.tweetsPerMinute`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 53",message="metadata.name must be at most 53 characters: the dashboard's Service is named <name>-dashboard, at most 63"
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must start with a letter and hold only lower-case letters, digits and '-' (it names a Service)"
type LiveDashboard struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired dashboard.
	// +required
	Spec LiveDashboardSpec `json:"spec"`

	// status holds the latest results.
	// +optional
	Status LiveDashboardStatus `json:"status,omitempty"`
}

// LiveDashboardList is a list of LiveDashboards.
//
// +kubebuilder:object:root=true
type LiveDashboardList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LiveDashboard `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LiveDashboard{}, &LiveDashboardList{})
}
