package kinesislocal

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
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

// TestKeyChecker: the SDK's requests, signed with an allowed key, pass; a
// wrong secret, an unknown key and a revoked key are refused with the error
// Kinesis gives, and the SDK reads it as that error.
func TestKeyChecker(t *testing.T) {
	e := Start(t)
	k := e.StartKeyChecker(t)
	k.Allow("AKIAGOOD", "good-secret")
	k.Allow("AKIAOTHER", "other-secret")
	client := func(id, secret string) *kinesis.Client {
		return kinesis.New(kinesis.Options{
			Region: e.Region, BaseEndpoint: aws.String(k.Endpoint),
			Credentials: credentials.NewStaticCredentialsProvider(id, secret, ""),
		})
	}
	ctx := context.Background()
	if _, err := client("AKIAGOOD", "good-secret").CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("keyed"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("allowed key: %v", err)
	}
	k.Revoke("AKIAOTHER")
	tests := []struct {
		name, id, secret string
		wantCode         string // "" accepted
	}{
		{"allowed key", "AKIAGOOD", "good-secret", ""},
		{"wrong secret", "AKIAGOOD", "guessed", "InvalidSignatureException"},
		{"unknown key", "AKIANEVER", "x", "UnrecognizedClientException"},
		{"revoked key", "AKIAOTHER", "other-secret", "UnrecognizedClientException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client(tc.id, tc.secret).ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("keyed")})
			var ae smithy.APIError
			switch {
			case tc.wantCode == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantCode != "" && (!errors.As(err, &ae) || ae.ErrorCode() != tc.wantCode):
				t.Fatalf("error %v, want %s", err, tc.wantCode)
			}
		})
	}
	if k.Rejected("AKIAOTHER") == 0 || k.Rejected("AKIAGOOD") != 1 {
		t.Errorf("rejections: revoked %d, good (wrong secret) %d", k.Rejected("AKIAOTHER"), k.Rejected("AKIAGOOD"))
	}
}
