package ingest

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Credentials are an integration's: static access keys, or a role the
// server assumes with its own identity.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	RoleARN         string
	ExternalID      string
}

// NewClient builds a Kinesis client for an integration in region, at
// endpoint when it is not "". Everything else (endpoint overrides such as
// AWS_ENDPOINT_URL_KINESIS, the server's own identity for AssumeRole) comes
// from the SDK's default configuration.
func NewClient(ctx context.Context, creds Credentials, region, endpoint string) (*kinesis.Client, error) {
	opts := []func(*config.LoadOptions) error{}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	switch {
	case creds.AccessKeyID != "":
		cfg.Credentials = credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, "")
	case creds.RoleARN != "":
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), creds.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "streamdash-analytics"
			if creds.ExternalID != "" {
				o.ExternalID = aws.String(creds.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}
