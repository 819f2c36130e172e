package kinesis

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/streamdash/streamdash/test/kinesislocal"
)

// waitFor polls Describe until cond holds or the deadline passes.
func waitFor(t *testing.T, s Streams, name, what string, cond func(Stream, error) bool) Stream {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := s.Describe(ctx, name)
		if cond(st, err) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s: %s not reached; last %v, err %v", name, what, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func active(st Stream, err error) bool { return err == nil && st.Status == StatusActive }

// TestLifecycleAgainstEmulator drives a stream through the whole lifecycle on
// the real Kinesis emulator, one action at a time as the controller does.
func TestLifecycleAgainstEmulator(t *testing.T) {
	e := kinesislocal.Start(t)
	clients := &Clients{Base: aws.Config{
		Region:       e.Region,
		BaseEndpoint: aws.String(e.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}}
	s := clients.For("", nil)
	ctx := context.Background()
	name := "lifecycle"

	// A name of its own: the emulator answers DeleteStream of a missing
	// stream with NotFound but still removes a stream of that name created
	// within DELETE_STREAM_DURATION afterwards.
	if _, err := s.Describe(ctx, "never-created"); !IsNotFound(err) {
		t.Fatalf("Describe of a missing stream: %v, want NotFound", err)
	}
	if err := s.Delete(ctx, "never-created"); !IsNotFound(err) {
		t.Fatalf("Delete of a missing stream: %v, want NotFound", err)
	}

	tags := map[string]string{"streamdash.io/pipeline": "team/demo", "streamdash.io/managed-by": "streamdash"}
	if err := s.Create(ctx, name, 1, tags); err != nil {
		t.Fatalf("Create: %v", err)
	}
	st := waitFor(t, s, name, "ACTIVE", active)
	if st.OpenShards != 1 || st.ARN == "" || st.RetentionHours != DefaultRetentionHours || st.Mode != ModeProvisioned {
		t.Fatalf("new stream = %+v", st)
	}

	// Converge with the same decision function the controller uses, counting steps.
	want := Desired{Shards: 3, RetentionHours: 48, Tags: map[string]string{"streamdash.io/pipeline": "team/demo", "extra": "1"}}
	var done []string
	for i := 0; ; i++ {
		if i > 20 {
			t.Fatalf("not converged after %d actions: %v", i, done)
		}
		st = waitFor(t, s, name, "ACTIVE", active)
		a := NextAction(want, st)
		if a.Kind == ActionNone {
			break
		}
		done = append(done, a.Kind.String()+fmt.Sprint(a.Shards))
		var err error
		switch a.Kind {
		case ActionAddTags:
			err = s.AddTags(ctx, name, a.Tags)
		case ActionIncreaseRetention:
			err = s.IncreaseRetention(ctx, name, a.RetentionHours)
		case ActionDecreaseRetention:
			err = s.DecreaseRetention(ctx, name, a.RetentionHours)
		case ActionUpdateShards:
			err = s.UpdateShardCount(ctx, name, a.Shards)
		}
		if err != nil {
			t.Fatalf("%s: %v", a.Kind, err)
		}
	}
	if st.OpenShards != 3 || st.RetentionHours != 48 || st.Tags["extra"] != "1" || st.Tags["streamdash.io/managed-by"] != "streamdash" {
		t.Fatalf("converged stream = %+v tags %v", st, st.Tags)
	}
	// Tags (once, if CreateStream dropped them), retention, 1->2, 2->3.
	if n := len(done); n < 3 || n > 4 {
		t.Errorf("actions %v: want retention and two shard steps (plus tags)", done)
	}

	if err := s.DecreaseRetention(ctx, name, 24); err != nil {
		t.Fatalf("DecreaseRetention: %v", err)
	}
	st = waitFor(t, s, name, "retention 24", func(st Stream, err error) bool { return active(st, err) && st.RetentionHours == 24 })

	// More than double in one call is a scaling limit, which the controller reports instead of retrying.
	if err := s.UpdateShardCount(ctx, name, 7); err == nil {
		t.Errorf("UpdateShardCount 3->7 succeeded; Kinesis refuses more than double")
	} else if k := KindOf(err); k != KindLimit {
		t.Errorf("UpdateShardCount 3->7: kind %s (%v), want LimitExceeded", k, err)
	}

	if err := s.Delete(ctx, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	waitFor(t, s, name, "gone", func(_ Stream, err error) bool { return IsNotFound(err) })
}

func TestClientsCache(t *testing.T) {
	c := &Clients{Base: aws.Config{Region: "us-east-1"}}
	a := c.For("", nil)
	if b := c.For("us-east-1", nil); b != a {
		t.Error("same region and identity gave a second client")
	}
	k1 := c.For("us-east-1", &Credentials{AccessKeyID: "A", SecretAccessKey: "x"})
	k2 := c.For("us-east-1", &Credentials{AccessKeyID: "A", SecretAccessKey: "y"})
	if k1 == a || k1 == k2 {
		t.Error("different identities share a client")
	}
	if c.For("eu-west-1", nil) == a {
		t.Error("different regions share a client")
	}
}
