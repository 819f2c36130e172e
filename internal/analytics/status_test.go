package analytics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/streamdash/streamdash/internal/analytics"
)

// sourceState reads a collection's status and its one source's state and message.
func sourceState(t *testing.T, ts *testServer, name string) (collection, state, message string) {
	t.Helper()
	c, err := ts.rc.GetCollection(context.Background(), "commons", name)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) != 1 || c.Sources[0].Status == nil {
		t.Fatalf("collection %s sources = %+v, want one with a status", name, c.Sources)
	}
	st := c.Sources[0].Status
	return c.GetStatus(), st.GetState(), st.GetMessage()
}

func waitSource(t *testing.T, ts *testServer, name, wantCollection, wantState, wantMessage string) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("collection %s %s, source %s", name, wantCollection, wantState), func() (bool, error) {
		coll, state, msg := sourceState(t, ts, name)
		if strings.Contains(msg, "RequestID") {
			t.Fatalf("source message %q carries a request ID, so it changes on every attempt", msg)
		}
		ok := coll == wantCollection && state == wantState && strings.Contains(msg, wantMessage)
		return ok, fmt.Errorf("collection %s, source %s %q", coll, state, msg)
	})
}

// TestSourceStatusIsHonest: a source that cannot read its stream says ERROR
// with the reason, its collection is not READY meanwhile (before and after
// it was READY), and both recover without help once the stream is there.
func TestSourceStatusIsHonest(t *testing.T) {
	e := emulator(t)
	ts := startServer(t, analytics.Config{})
	ctx := context.Background()
	const stream = "status-honest"
	setupTweets(t, ts.rc, e.Region, "honest", stream, "EARLIEST")

	// No stream yet: the source cannot list its shards.
	waitSource(t, ts, "honest", "CREATED", "ERROR", stream)

	createStream(t, e, stream, 1)
	putRecords(t, e.Client(), stream, [][]byte{[]byte(`{"_id":"1","timestamp_ms":"1"}`)})
	waitDocs(t, ts.rc, "commons", "honest", 1, 30*time.Second)
	waitSource(t, ts, "honest", "READY", "WATCHING", "")

	// The stream goes away under a READY collection.
	if _, err := e.Client().DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(stream)}); err != nil {
		t.Fatal(err)
	}
	waitSource(t, ts, "honest", "CREATED", "ERROR", "")
	srcs, err := ts.rc.ListCollections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range srcs {
		if c.GetName() == "honest" && c.GetStatus() == "READY" {
			t.Errorf("list collections says %s is READY while its source is in ERROR", c.GetName())
		}
	}
}
