package twitterpipeline

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/streamdash/streamdash/api/v1alpha1"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/kinesis"
)

// These tests use fake servers only for failures the Kinesis emulator and
// the analytics server cannot be made to produce: throttling, quota refusals,
// 429/503 and an unreachable server. The real clients talk to them over HTTP.

// fakeKinesis answers the Kinesis JSON protocol: a 1-shard ACTIVE stream, and
// the given error for the operations in fail.
func fakeKinesis(t *testing.T, fail map[string]string) (*httptest.Server, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "Kinesis_20131202.")
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if code, ok := fail[op]; ok {
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": "refused by the fake"})
			return
		}
		switch op {
		case "DescribeStreamSummary":
			_ = json.NewEncoder(w).Encode(map[string]any{"StreamDescriptionSummary": map[string]any{
				"StreamName": "s", "StreamARN": "arn:aws:kinesis:us-east-1:000000000000:stream/s", "StreamStatus": "ACTIVE",
				"OpenShardCount": 1, "RetentionPeriodHours": 24, "StreamModeDetails": map[string]string{"StreamMode": "PROVISIONED"},
				"StreamCreationTimestamp": 1.7e9, "EnhancedMonitoring": []any{},
			}})
		case "ListTagsForStream":
			_ = json.NewEncoder(w).Encode(map[string]any{"Tags": []map[string]string{
				{"Key": tagPipeline, "Value": "team/demo"}, {"Key": tagManagedBy, "Value": managedBy},
			}, "HasMoreTags": false})
		default:
			_, _ = w.Write([]byte("{}"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func fakeStreams(url string) kinesis.Streams {
	c := &kinesis.Clients{Base: aws.Config{
		Region: "us-east-1", BaseEndpoint: aws.String(url), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}}
	return c.For("", nil)
}

func TestStreamFailures(t *testing.T) {
	tests := []struct {
		name       string
		shards     int32
		fail       map[string]string
		wantIntent steps.Intent
		wantReason string
		// wantRecheck: a stall that only time can lift is checked again at the resync period.
		wantRecheck bool
	}{
		{name: "control-plane throttling backs off", shards: 1,
			fail: map[string]string{"DescribeStreamSummary": "LimitExceededException"}, wantIntent: steps.IntentRetry, wantReason: ReasonStreamThrottled},
		{name: "throughput throttling backs off", shards: 1,
			fail: map[string]string{"ListTagsForStream": "ThrottlingException"}, wantIntent: steps.IntentRetry, wantReason: ReasonStreamThrottled},
		{name: "reshard quota is a condition, not a retry loop", shards: 2,
			fail:       map[string]string{"UpdateShardCount": "LimitExceededException"},
			wantIntent: steps.IntentStalled, wantReason: ReasonShardLimitExceeded, wantRecheck: true},
		{name: "rejected credentials stall", shards: 1,
			fail:       map[string]string{"DescribeStreamSummary": "UnrecognizedClientException"},
			wantIntent: steps.IntentStalled, wantReason: ReasonCredentialsRejected, wantRecheck: true},
		{name: "server error retries", shards: 1,
			fail: map[string]string{"DescribeStreamSummary": "InternalFailure"}, wantIntent: steps.IntentRetry, wantReason: ReasonStreamError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := fakeKinesis(t, tc.fail)
			r := testReconciler()
			s := &pass{p: newPipeline(func(p *v1alpha1.TwitterPipeline) { p.Spec.Stream.ShardCount = tc.shards }),
				streamName: "s", streams: fakeStreams(srv.URL)}
			o := r.reconcileStream(context.Background(), s)
			if o.Intent != tc.wantIntent {
				t.Fatalf("intent = %d (%+v), want %d", o.Intent, o, tc.wantIntent)
			}
			if got := s.parts[v1alpha1.ConditionStreamReady]; got.ready || got.reason != tc.wantReason {
				t.Errorf("StreamReady = %+v, want False %s", got, tc.wantReason)
			}
			if tc.wantRecheck && o.After != r.opts.ResyncPeriod {
				t.Errorf("recheck after %s, want the resync period %s", o.After, r.opts.ResyncPeriod)
			}
		})
	}
}

// fakeRockset answers every request with status and a Rockset ErrorModel.
func fakeRockset(t *testing.T, status int) (string, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"message": http.StatusText(status), "type": "RESOURCEEXCEEDED"})
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

func TestRocksetFailures(t *testing.T) {
	closed := func(t *testing.T) (string, *atomic.Int32) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		url := "http://" + l.Addr().String()
		l.Close()
		return url, &atomic.Int32{}
	}
	tests := []struct {
		name       string
		server     func(*testing.T) (string, *atomic.Int32)
		wantIntent steps.Intent
		wantReason string
	}{
		{name: "429 backs off", server: func(t *testing.T) (string, *atomic.Int32) { return fakeRockset(t, 429) },
			wantIntent: steps.IntentRetry, wantReason: ReasonRocksetThrottled},
		{name: "503 backs off", server: func(t *testing.T) (string, *atomic.Int32) { return fakeRockset(t, 503) },
			wantIntent: steps.IntentRetry, wantReason: ReasonRocksetThrottled},
		{name: "server down is a condition", server: closed, wantIntent: steps.IntentRetry, wantReason: ReasonAnalyticsUnreachable},
		{name: "rejected key stalls", server: func(t *testing.T) (string, *atomic.Int32) { return fakeRockset(t, 401) },
			wantIntent: steps.IntentStalled, wantReason: ReasonRocksetAuthFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url, calls := tc.server(t)
			r := testReconciler()
			conn := rocksetconn.Connection{APIServer: url, APIKey: "k"}
			rc, err := newRocksetClient(r.opts.HTTPClient)(conn)
			if err != nil {
				t.Fatal(err)
			}
			s := &pass{p: newPipeline(), conn: conn, rockset: rc, streamName: "s"}
			o := r.reconcileIntegration(context.Background(), s)
			if o.Intent != tc.wantIntent {
				t.Fatalf("intent = %d (%+v), want %d", o.Intent, o, tc.wantIntent)
			}
			if got := s.parts[v1alpha1.ConditionCollectionReady]; got.ready || got.reason != tc.wantReason {
				t.Errorf("CollectionReady = %+v, want False %s", got, tc.wantReason)
			}
			if strings.Contains(s.parts[v1alpha1.ConditionCollectionReady].message, "k\"") {
				t.Errorf("message carries the key: %q", s.parts[v1alpha1.ConditionCollectionReady].message)
			}
			// One request per reconcile: the backoff is the controller's, not a loop inside the client.
			if n := calls.Load(); n > 1 {
				t.Errorf("%d requests in one reconcile, want at most 1", n)
			}
		})
	}
}
