// Package kinesis is the TwitterPipeline controller's view of a Kinesis
// stream's lifecycle: read one stream, create it, change it one step at a
// time, delete it. Streams is the small interface the controller depends on;
// SDK implements it over aws-sdk-go-v2, and the decision functions in plan.go
// say what to change given what is desired and what was observed.
//
// Nothing here waits for a stream to become ACTIVE: callers read, act once,
// and come back later.
package kinesis

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Stream statuses, as Kinesis spells them.
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusUpdating = "UPDATING"
	StatusDeleting = "DELETING"
)

// Capacity modes. Only provisioned streams have a shard count to manage.
const (
	ModeProvisioned = "PROVISIONED"
	ModeOnDemand    = "ON_DEMAND"
)

// DefaultRetentionHours is Kinesis's retention for a new stream.
const DefaultRetentionHours = 24

// Stream is one stream as observed: its summary and its tags.
type Stream struct {
	Name           string
	ARN            string
	Status         string
	Mode           string
	OpenShards     int32
	RetentionHours int32
	Tags           map[string]string
}

// Streams is the stream lifecycle the controller uses. Every method returns
// an *Error (see errors.go) on failure, so callers decide by kind, not by text.
type Streams interface {
	// Describe reads the stream and its tags; a missing stream is a NotFound error.
	Describe(ctx context.Context, name string) (Stream, error)
	// Create starts creating a provisioned stream with tags and returns at once.
	Create(ctx context.Context, name string, shards int32, tags map[string]string) error
	// UpdateShardCount starts a uniform rescale to target open shards.
	UpdateShardCount(ctx context.Context, name string, target int32) error
	// IncreaseRetention and DecreaseRetention set the retention period.
	IncreaseRetention(ctx context.Context, name string, hours int32) error
	DecreaseRetention(ctx context.Context, name string, hours int32) error
	// AddTags adds or overwrites tags.
	AddTags(ctx context.Context, name string, tags map[string]string) error
	// Delete starts deleting the stream (and its consumers); deleting a
	// stream that does not exist is a NotFound error.
	Delete(ctx context.Context, name string) error
}

// API is the part of *kinesis.Client that SDK calls.
type API interface {
	DescribeStreamSummary(context.Context, *awskinesis.DescribeStreamSummaryInput, ...func(*awskinesis.Options)) (*awskinesis.DescribeStreamSummaryOutput, error)
	ListTagsForStream(context.Context, *awskinesis.ListTagsForStreamInput, ...func(*awskinesis.Options)) (*awskinesis.ListTagsForStreamOutput, error)
	CreateStream(context.Context, *awskinesis.CreateStreamInput, ...func(*awskinesis.Options)) (*awskinesis.CreateStreamOutput, error)
	UpdateShardCount(context.Context, *awskinesis.UpdateShardCountInput, ...func(*awskinesis.Options)) (*awskinesis.UpdateShardCountOutput, error)
	IncreaseStreamRetentionPeriod(context.Context, *awskinesis.IncreaseStreamRetentionPeriodInput, ...func(*awskinesis.Options)) (*awskinesis.IncreaseStreamRetentionPeriodOutput, error)
	DecreaseStreamRetentionPeriod(context.Context, *awskinesis.DecreaseStreamRetentionPeriodInput, ...func(*awskinesis.Options)) (*awskinesis.DecreaseStreamRetentionPeriodOutput, error)
	AddTagsToStream(context.Context, *awskinesis.AddTagsToStreamInput, ...func(*awskinesis.Options)) (*awskinesis.AddTagsToStreamOutput, error)
	DeleteStream(context.Context, *awskinesis.DeleteStreamInput, ...func(*awskinesis.Options)) (*awskinesis.DeleteStreamOutput, error)
}

// SDK implements Streams with an aws-sdk-go-v2 Kinesis client.
type SDK struct {
	API API
}

var _ Streams = SDK{}

// maxTagsPerCall is AddTagsToStream's limit.
const maxTagsPerCall = 50

// Describe implements Streams.
func (s SDK) Describe(ctx context.Context, name string) (Stream, error) {
	out, err := s.API.DescribeStreamSummary(ctx, &awskinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		return Stream{}, classify("DescribeStreamSummary", name, err)
	}
	d := out.StreamDescriptionSummary
	if d == nil {
		return Stream{}, classify("DescribeStreamSummary", name, errors.New("empty response"))
	}
	st := Stream{
		Name:           aws.ToString(d.StreamName),
		ARN:            aws.ToString(d.StreamARN),
		Status:         string(d.StreamStatus),
		OpenShards:     aws.ToInt32(d.OpenShardCount),
		RetentionHours: aws.ToInt32(d.RetentionPeriodHours),
		Mode:           ModeProvisioned,
		Tags:           map[string]string{},
	}
	if d.StreamModeDetails != nil && d.StreamModeDetails.StreamMode != "" {
		st.Mode = string(d.StreamModeDetails.StreamMode)
	}
	if st.Name == "" {
		st.Name = name
	}
	var start *string
	for {
		tags, err := s.API.ListTagsForStream(ctx, &awskinesis.ListTagsForStreamInput{
			StreamName:           aws.String(name),
			ExclusiveStartTagKey: start,
		})
		if err != nil {
			return Stream{}, classify("ListTagsForStream", name, err)
		}
		for _, t := range tags.Tags {
			st.Tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		if !aws.ToBool(tags.HasMoreTags) || len(tags.Tags) == 0 {
			break
		}
		start = tags.Tags[len(tags.Tags)-1].Key
	}
	return st, nil
}

// Create implements Streams. An endpoint that ignores CreateStream's tags
// (the field is newer than some Kinesis-compatible servers) is no problem:
// the caller compares tags on every pass and adds what is missing.
func (s SDK) Create(ctx context.Context, name string, shards int32, tags map[string]string) error {
	in := &awskinesis.CreateStreamInput{
		StreamName:        aws.String(name),
		ShardCount:        aws.Int32(shards),
		StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeProvisioned},
	}
	if len(tags) > 0 && len(tags) <= maxTagsPerCall {
		in.Tags = tags
	}
	_, err := s.API.CreateStream(ctx, in)
	if err != nil {
		return classify("CreateStream", name, err)
	}
	return nil
}

// UpdateShardCount implements Streams.
func (s SDK) UpdateShardCount(ctx context.Context, name string, target int32) error {
	_, err := s.API.UpdateShardCount(ctx, &awskinesis.UpdateShardCountInput{
		StreamName:       aws.String(name),
		TargetShardCount: aws.Int32(target),
		ScalingType:      types.ScalingTypeUniformScaling,
	})
	return classify("UpdateShardCount", name, err)
}

// IncreaseRetention implements Streams.
func (s SDK) IncreaseRetention(ctx context.Context, name string, hours int32) error {
	_, err := s.API.IncreaseStreamRetentionPeriod(ctx, &awskinesis.IncreaseStreamRetentionPeriodInput{
		StreamName: aws.String(name), RetentionPeriodHours: aws.Int32(hours),
	})
	return classify("IncreaseStreamRetentionPeriod", name, err)
}

// DecreaseRetention implements Streams.
func (s SDK) DecreaseRetention(ctx context.Context, name string, hours int32) error {
	_, err := s.API.DecreaseStreamRetentionPeriod(ctx, &awskinesis.DecreaseStreamRetentionPeriodInput{
		StreamName: aws.String(name), RetentionPeriodHours: aws.Int32(hours),
	})
	return classify("DecreaseStreamRetentionPeriod", name, err)
}

// AddTags implements Streams, in batches of the API's 50 tags per call.
func (s SDK) AddTags(ctx context.Context, name string, tags map[string]string) error {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for len(keys) > 0 {
		n := min(len(keys), maxTagsPerCall)
		batch := make(map[string]string, n)
		for _, k := range keys[:n] {
			batch[k] = tags[k]
		}
		keys = keys[n:]
		if _, err := s.API.AddTagsToStream(ctx, &awskinesis.AddTagsToStreamInput{StreamName: aws.String(name), Tags: batch}); err != nil {
			return classify("AddTagsToStream", name, err)
		}
	}
	return nil
}

// Delete implements Streams.
func (s SDK) Delete(ctx context.Context, name string) error {
	_, err := s.API.DeleteStream(ctx, &awskinesis.DeleteStreamInput{
		StreamName: aws.String(name),
		// A collection's enhanced fan-out consumer must not keep the stream alive.
		EnforceConsumerDeletion: aws.Bool(true),
	})
	return classify("DeleteStream", name, err)
}

// String describes a stream for logs: no tags (they may carry user data).
func (st Stream) String() string {
	return fmt.Sprintf("%s %s shards=%d retention=%dh", st.Name, st.Status, st.OpenShards, st.RetentionHours)
}
