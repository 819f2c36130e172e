package analytics_test

import (
	"context"
	"testing"
	"time"

	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
	"github.com/streamdash/streamdash/internal/analytics/tweetfixture"
)

// An integration with neither keys nor a role reads its streams with the
// server's own AWS identity (here the environment's test credentials; in a
// cluster IRSA or EKS Pod Identity): what the operator sends for a pipeline
// that names no credentials.
func TestIntegrationWithServerIdentity(t *testing.T) {
	e := emulator(t)
	ts := startServer(t, analytics.Config{DataDir: t.TempDir()})
	ctx := context.Background()
	integ, err := ts.rc.CreateKinesisIntegration(ctx, "own-identity", func(*option.AWSCredentials) {})
	if err != nil {
		t.Fatalf("integration without credentials refused: %v", err)
	}
	if k := integ.GetKinesis(); k.AwsAccessKey != nil || k.AwsRole != nil {
		t.Fatalf("integration reports credentials it was not given: %+v", k)
	}
	createStream(t, e, "tweets-identity", 1)
	if _, err := ts.rc.CreateCollection(ctx, "commons", "identity",
		option.WithEventTimeInfo("timestamp_ms", "UTC", option.EventTimeInfoFormat("milliseconds_since_epoch")),
		kinesisSource("own-identity", "tweets-identity", e.Region, "EARLIEST")); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	putRecords(t, e.Client(), "tweets-identity", tweetData(tweetfixture.Generate(3, "i", 40, now.Add(-time.Minute), now)))
	waitDocs(t, ts.rc, "commons", "identity", 40, time.Minute)
}
