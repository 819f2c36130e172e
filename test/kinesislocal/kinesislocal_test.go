package kinesislocal

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

func TestEmulatorCreatesStreams(t *testing.T) {
	e := Start(t)
	ctx := context.Background()
	c := e.Client()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("probe"), ShardCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.StreamNames) != 1 || out.StreamNames[0] != "probe" {
		t.Fatalf("streams = %v, want [probe]", out.StreamNames)
	}
}
