package rockset

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/openapi"
)

func TestKindOf(t *testing.T) {
	withStatus := func(code int) error {
		return rockerr.Error{ErrorModel: &openapi.ErrorModel{Message: openapi.PtrString("m")}, StatusCode: code, Cause: errors.New("x")}
	}
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{name: "404", err: withStatus(http.StatusNotFound), want: KindNotFound},
		{name: "409", err: withStatus(http.StatusConflict), want: KindConflict},
		{name: "429", err: withStatus(http.StatusTooManyRequests), want: KindThrottled},
		{name: "503", err: withStatus(http.StatusServiceUnavailable), want: KindThrottled},
		{name: "401", err: withStatus(http.StatusUnauthorized), want: KindAuth},
		{name: "400", err: withStatus(http.StatusBadRequest), want: KindRejected},
		{name: "500", err: withStatus(http.StatusInternalServerError), want: KindOther},
		{name: "no answer", err: rockerr.Error{Cause: errors.New("dial tcp: connection refused")}, want: KindUnreachable},
		{name: "wrapped keeps its kind", err: wrap("read collection a.b", withStatus(http.StatusNotFound)), want: KindNotFound},
		{name: "not a client error", err: errors.New("boom"), want: KindOther},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.want {
				t.Errorf("KindOf() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	key := strings.Repeat("AbC123xyz", 6)
	tests := []struct {
		name    string
		err     error
		want    string
		notWant string
	}{
		{name: "server message, key redacted",
			err:  wrap("read integration i", rockerr.Error{ErrorModel: &openapi.ErrorModel{Message: openapi.PtrString("bad header ApiKey " + key)}, StatusCode: 401}),
			want: "bad header ApiKey [redacted]", notWant: key},
		{name: "long message cut", err: errors.New(strings.Repeat("a b ", 200)), want: "...", notWant: strings.Repeat("a b ", 100)},
		{name: "names are kept", err: errors.New("collection streamdash-team-a-very-long-pipeline-name-here not found"),
			want: "streamdash-team-a-very-long-pipeline-name-here"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := Message(tc.err)
			if !strings.Contains(m, tc.want) || (tc.notWant != "" && strings.Contains(m, tc.notWant)) {
				t.Errorf("Message() = %q, want it to hold %q and not %q", m, tc.want, tc.notWant)
			}
		})
	}
}

func TestCreateOptions(t *testing.T) {
	spec := CollectionSpec{Description: "d", Integration: "i", Stream: "stream-1", Region: "eu-west-1",
		OffsetResetPolicy: "EARLIEST", EventTimeField: "timestamp_ms", RetentionSecs: 48 * 3600,
		Transform: "SELECT * FROM _input WHERE lang = 'en'"}
	var req openapi.CreateCollectionRequest
	for _, o := range createOptions(spec) {
		o(&req)
	}
	if len(req.Sources) != 1 {
		t.Fatalf("sources = %+v", req.Sources)
	}
	src := req.Sources[0]
	if src.GetIntegrationName() != "i" || src.Kinesis == nil || src.Kinesis.StreamName != "stream-1" ||
		src.Kinesis.GetAwsRegion() != "eu-west-1" || src.Kinesis.GetOffsetResetPolicy() != "EARLIEST" ||
		src.FormatParams == nil || !src.FormatParams.GetJson() {
		t.Errorf("source = %+v kinesis %+v", src, src.Kinesis)
	}
	if req.EventTimeInfo == nil || req.EventTimeInfo.Field != "timestamp_ms" || req.EventTimeInfo.GetFormat() != "milliseconds_since_epoch" {
		t.Errorf("event_time_info = %+v", req.EventTimeInfo)
	}
	if req.GetRetentionSecs() != 48*3600 || req.GetDescription() != "d" {
		t.Errorf("retention_secs = %d description %q", req.GetRetentionSecs(), req.GetDescription())
	}
	if req.FieldMappingQuery == nil || req.FieldMappingQuery.GetSql() != spec.Transform {
		t.Errorf("field_mapping_query = %+v", req.FieldMappingQuery)
	}
}
