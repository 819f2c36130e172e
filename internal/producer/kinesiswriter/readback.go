package kinesiswriter

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// ReadAll reads every record currently in the stream, shard by shard from
// TRIM_HORIZON, and returns their data. It lets tests and tools check what a
// writer wrote through the real Kinesis API.
func ReadAll(ctx context.Context, c *kinesis.Client, stream string) ([][]byte, error) {
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return nil, fmt.Errorf("list shards: %w", err)
	}
	var out [][]byte
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			return nil, fmt.Errorf("shard iterator: %w", err)
		}
		iter := it.ShardIterator
		for iter != nil {
			r, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				return nil, fmt.Errorf("get records: %w", err)
			}
			for _, rec := range r.Records {
				out = append(out, rec.Data)
			}
			if len(r.Records) == 0 || aws.ToInt64(r.MillisBehindLatest) == 0 && len(r.Records) < 10000 {
				break
			}
			iter = r.NextShardIterator
		}
	}
	return out, nil
}

// CreateStream creates a stream with shards shards and waits until it is active.
func CreateStream(ctx context.Context, c *kinesis.Client, stream string, shards int32) error {
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(shards)}); err != nil {
		return err
	}
	w := kinesis.NewStreamExistsWaiter(c, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 500 * time.Millisecond
	})
	return w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(stream)}, 30*time.Second)
}
