package kinesis

import (
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		op   string
		err  error
		want Kind
	}{
		{name: "typed not found", op: "DescribeStreamSummary", err: &types.ResourceNotFoundException{}, want: KindNotFound},
		{name: "in use", op: "UpdateShardCount", err: &types.ResourceInUseException{}, want: KindInUse},
		{name: "limit on UpdateShardCount is a quota", op: "UpdateShardCount", err: &types.LimitExceededException{}, want: KindLimit},
		{name: "limit on CreateStream is a quota", op: "CreateStream", err: &types.LimitExceededException{}, want: KindLimit},
		{name: "limit on Describe is request rate", op: "DescribeStreamSummary", err: &types.LimitExceededException{}, want: KindThrottled},
		{name: "throughput exceeded", op: "ListTagsForStream", err: &types.ProvisionedThroughputExceededException{}, want: KindThrottled},
		{name: "generic throttling code", op: "AddTagsToStream", err: &smithy.GenericAPIError{Code: "ThrottlingException"}, want: KindThrottled},
		{name: "beyond double is a scaling limit", op: "UpdateShardCount", err: &types.InvalidArgumentException{}, want: KindLimit},
		{name: "bad retention is invalid", op: "IncreaseStreamRetentionPeriod", err: &types.InvalidArgumentException{}, want: KindInvalid},
		{name: "access denied", op: "CreateStream", err: &types.AccessDeniedException{}, want: KindAccessDenied},
		{name: "unknown key", op: "DescribeStreamSummary", err: &smithy.GenericAPIError{Code: "UnrecognizedClientException"}, want: KindAccessDenied},
		{name: "network error", op: "DescribeStreamSummary", err: errors.New("dial tcp: connection refused"), want: KindOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := classify(tc.op, "s", tc.err)
			if got := KindOf(err); got != tc.want {
				t.Errorf("KindOf(classify(%s, %T)) = %s, want %s", tc.op, tc.err, got, tc.want)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("classify lost the cause %v", tc.err)
			}
		})
	}
	if classify("X", "s", nil) != nil {
		t.Error("classify(nil) is not nil")
	}
}
