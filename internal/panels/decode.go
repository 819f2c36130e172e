package panels

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// DecodeError is a row whose shape is not what the query selects.
type DecodeError struct {
	Field  string
	Reason string
}

func (e *DecodeError) Error() string { return fmt.Sprintf("panels: field %s: %s", e.Field, e.Reason) }

func decodeTweets(rows []map[string]any) ([]Tweet, error) {
	out := make([]Tweet, 0, len(rows))
	for i, row := range rows {
		id, err := stringField(row, "id_str")
		if err != nil {
			return nil, fmt.Errorf("panels: tweet row %d: %w", i, err)
		}
		t, err := timeField(row, "event_time")
		if err != nil {
			return nil, fmt.Errorf("panels: tweet row %d: %w", i, err)
		}
		// A document without a user or text is still a tweet to show.
		name, _ := stringField(row, "screen_name")
		text, _ := stringField(row, "text")
		out = append(out, Tweet{ID: id, Time: t, ScreenName: name, Text: text})
	}
	return out, nil
}

func decodeHashtagCounts(rows []map[string]any) ([]HashtagCount, error) {
	out := make([]HashtagCount, 0, len(rows))
	for i, row := range rows {
		h, err := stringField(row, "hashtag")
		if err != nil {
			return nil, fmt.Errorf("panels: hashtag row %d: %w", i, err)
		}
		n, err := intField(row, "tweet_count")
		if err != nil {
			return nil, fmt.Errorf("panels: hashtag row %d: %w", i, err)
		}
		out = append(out, HashtagCount{Hashtag: h, Tweets: n})
	}
	return out, nil
}

func stringField(row map[string]any, name string) (string, error) {
	switch v := row[name].(type) {
	case string:
		return v, nil
	case nil:
		return "", &DecodeError{Field: name, Reason: "missing"}
	case float64, json.Number, int64, int:
		return fmt.Sprint(v), nil
	default:
		return "", &DecodeError{Field: name, Reason: fmt.Sprintf("unexpected %T", v)}
	}
}

func intField(row map[string]any, name string) (int64, error) {
	switch v := row[name].(type) {
	case float64:
		if v != math.Trunc(v) || math.IsInf(v, 0) || math.Abs(v) > 1<<53 {
			return 0, &DecodeError{Field: name, Reason: "not an integer"}
		}
		return int64(v), nil
	case json.Number:
		return v.Int64()
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, &DecodeError{Field: name, Reason: "not an integer"}
		}
		return n, nil
	case nil:
		// SQL NULL: MAX over no followers_count, for instance.
		return 0, nil
	default:
		return 0, &DecodeError{Field: name, Reason: fmt.Sprintf("unexpected %T", v)}
	}
}

// timeLayouts are the ways a timestamp column comes back: Rockset's
// (2024-01-02T15:04:05.123456Z), RFC 3339, and DuckDB's text form.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02 15:04:05.999999999",
}

// timeField reads a timestamp given as a string in one of timeLayouts or as
// epoch milliseconds.
func timeField(row map[string]any, name string) (time.Time, error) {
	switch v := row[name].(type) {
	case string:
		s := strings.TrimSpace(v)
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t.UTC(), nil
			}
		}
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.UnixMilli(ms).UTC(), nil
		}
		return time.Time{}, &DecodeError{Field: name, Reason: "not a timestamp"}
	case float64:
		return time.UnixMilli(int64(v)).UTC(), nil
	case json.Number:
		ms, err := v.Int64()
		if err != nil {
			return time.Time{}, &DecodeError{Field: name, Reason: "not a timestamp"}
		}
		return time.UnixMilli(ms).UTC(), nil
	case nil:
		return time.Time{}, &DecodeError{Field: name, Reason: "missing"}
	default:
		return time.Time{}, &DecodeError{Field: name, Reason: fmt.Sprintf("unexpected %T", v)}
	}
}
