package xstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
)

// Rule is one filtered-stream rule as the pipeline wants it.
type Rule struct {
	Value string `json:"value"`
	Tag   string `json:"tag,omitempty"`
}

// PresentRule is a rule that exists on the account.
type PresentRule struct {
	ID    string `json:"id"`
	Value string `json:"value"`
	Tag   string `json:"tag"`
}

// ParseRules reads the --x-rules JSON ([{"value": "...", "tag": "..."}]).
func ParseRules(s string) ([]Rule, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var rs []Rule
	if err := json.Unmarshal([]byte(s), &rs); err != nil {
		return nil, fmt.Errorf("rules must be a JSON list of {value, tag}: %w", err)
	}
	for i, r := range rs {
		if strings.TrimSpace(r.Value) == "" {
			return nil, fmt.Errorf("rule %d has an empty value", i)
		}
	}
	return rs, nil
}

// OwnedRules gives every wanted rule this pipeline's tag prefix, so that a
// later sync can tell its rules from the account's other rules.
func OwnedRules(wanted []Rule, prefix string) []Rule {
	out := make([]Rule, len(wanted))
	for i, r := range wanted {
		if !strings.HasPrefix(r.Tag, prefix) {
			r.Tag = prefix + r.Tag
		}
		out[i] = r
	}
	return out
}

// PlanRules decides how to make the account's rules match: add the wanted
// rules that are missing, delete the present rules carrying prefix that are
// not wanted. Rules without the prefix belong to someone else and are never
// touched; with an empty prefix nothing is deleted, because every rule would
// match it. A wanted rule matches a present one when value and tag are equal.
func PlanRules(wanted []Rule, present []PresentRule, prefix string) (add []Rule, deleteIDs []string) {
	type key struct{ value, tag string }
	want := make(map[key]bool, len(wanted))
	for _, r := range wanted {
		want[key{r.Value, r.Tag}] = true
	}
	have := make(map[key]bool, len(present))
	for _, p := range present {
		k := key{p.Value, p.Tag}
		if want[k] && !have[k] {
			have[k] = true
			continue
		}
		if prefix != "" && strings.HasPrefix(p.Tag, prefix) {
			deleteIDs = append(deleteIDs, p.ID)
		}
	}
	seen := make(map[key]bool, len(wanted))
	for _, r := range wanted {
		k := key{r.Value, r.Tag}
		if !have[k] && !seen[k] {
			add = append(add, r)
		}
		seen[k] = true
	}
	sort.Strings(deleteIDs)
	return add, deleteIDs
}

// RuleError reports rules X refused (invalid syntax, too long, too many):
// retrying cannot help, the pipeline's spec must change.
type RuleError struct{ Problems []string }

func (e *RuleError) Error() string { return "x rejected rules: " + strings.Join(e.Problems, "; ") }

type rulesResponse struct {
	Data   []PresentRule `json:"data"`
	Errors []struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Value  string `json:"value"`
		ID     string `json:"id"`
		Type   string `json:"type"`
	} `json:"errors"`
	Meta struct {
		Summary struct {
			Created    int `json:"created"`
			NotCreated int `json:"not_created"`
			Deleted    int `json:"deleted"`
			NotDeleted int `json:"not_deleted"`
			Invalid    int `json:"invalid"`
		} `json:"summary"`
	} `json:"meta"`
}

// SyncRules makes the account's rules match the wanted ones and returns
// how many it added and deleted.
func (c *Client) SyncRules(ctx context.Context) (added, deleted int, err error) {
	present, err := c.ListRules(ctx)
	if err != nil {
		return 0, 0, err
	}
	add, del := PlanRules(c.rules, present, c.cfg.TagPrefix)
	// Deleting first frees the values of re-tagged rules: X refuses two
	// rules with one value.
	if len(del) > 0 {
		body := map[string]any{"delete": map[string]any{"ids": del}}
		var r rulesResponse
		if err := c.rulesRequest(ctx, http.MethodPost, body, &r); err != nil {
			return 0, 0, err
		}
		deleted = r.Meta.Summary.Deleted
		if r.Meta.Summary.NotDeleted > 0 {
			return 0, deleted, fmt.Errorf("x did not delete %d rules", r.Meta.Summary.NotDeleted)
		}
	}
	if len(add) > 0 {
		body := map[string]any{"add": add}
		var r rulesResponse
		if err := c.rulesRequest(ctx, http.MethodPost, body, &r); err != nil {
			return 0, deleted, err
		}
		added = r.Meta.Summary.Created
		var problems []string
		for _, e := range r.Errors {
			if e.Title == "DuplicateRule" {
				// The value exists under a tag this pipeline does not own;
				// X matches it anyway, so the stream is still complete.
				c.log.Warn("rule value already exists on the account under another tag", "value", e.Value)
				continue
			}
			problems = append(problems, fmt.Sprintf("%s: %s (%q)", e.Title, e.Detail, e.Value))
		}
		if len(problems) > 0 {
			return added, deleted, &RuleError{Problems: problems}
		}
	}
	return added, deleted, nil
}

// ListRules returns the rules on the account.
func (c *Client) ListRules(ctx context.Context) ([]PresentRule, error) {
	var r rulesResponse
	if err := c.rulesRequest(ctx, http.MethodGet, nil, &r); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// httpStatusError is a non-2xx answer.
type httpStatusError struct {
	Status int
	Title  string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("x answered HTTP %d %s", e.Status, e.Title)
}

func (c *Client) rulesRequest(ctx context.Context, method string, body any, out *rulesResponse) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.Endpoint+"/2/tweets/search/stream/rules", rd)
	if err != nil {
		return err
	}
	c.authorize(req)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	c.noteRateLimit(resp.Header)
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		se := &httpStatusError{Status: resp.StatusCode, Title: problemTitle(b)}
		if resp.StatusCode == http.StatusBadRequest {
			return &RuleError{Problems: []string{se.Error()}}
		}
		return se
	}
	if err := json.Unmarshal(b, out); err != nil {
		return errors.New("x rules answer is not JSON")
	}
	return nil
}

// problemTitle extracts a problem's title (or v1-style message) for logs,
// never the whole body.
func problemTitle(b []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Errors []struct {
			Message string `json:"message"`
			Title   string `json:"title"`
		} `json:"errors"`
	}
	if json.Unmarshal(b, &p) != nil {
		return ""
	}
	if p.Title != "" {
		return p.Title + ": " + truncate(p.Detail, 200)
	}
	if len(p.Errors) > 0 {
		return truncate(p.Errors[0].Title+p.Errors[0].Message, 200)
	}
	return ""
}

// truncate shortens s to about n bytes for a log line, keeping it valid UTF-8.
func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}
