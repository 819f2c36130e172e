package twitterpipeline

import (
	"testing"
	"time"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/api/v1alpha1"
)

func TestObserveIngest(t *testing.T) {
	withCount := func(n int64) openapi.Collection {
		return openapi.Collection{Stats: &openapi.CollectionStats{DocCount: &n}}
	}
	cases := []struct {
		name      string
		last      *v1alpha1.CollectionStatus
		now       openapi.Collection
		wantAfter time.Duration // 0: only the resync
	}{
		{"first observation", nil, withCount(0), ingestCheck},
		{"documents arriving", &v1alpha1.CollectionStatus{DocumentCount: 10}, withCount(25), ingestCheck},
		{"nothing new: quiet", &v1alpha1.CollectionStatus{DocumentCount: 25}, withCount(25), 0},
		{"documents purged", &v1alpha1.CollectionStatus{DocumentCount: 25}, withCount(5), ingestCheck},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := observeIngest(tc.last, tc.now)
			if o.intent != intentDone || o.after != tc.wantAfter {
				t.Errorf("observeIngest = intent %v after %v, want done after %v", o.intent, o.after, tc.wantAfter)
			}
		})
	}
}
