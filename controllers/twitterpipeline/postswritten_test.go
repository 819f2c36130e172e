package twitterpipeline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestScrapeCounter(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		status  int
		want    int64
		wantErr string
	}{
		{"one series", "# TYPE streamdash_producer_posts_written_total counter\nstreamdash_producer_posts_written_total 1234\n", 200, 1234, ""},
		{"summed over labels", "# TYPE streamdash_producer_posts_written_total counter\n" +
			"streamdash_producer_posts_written_total{source=\"x\"} 10\nstreamdash_producer_posts_written_total{source=\"replay\"} 5\n", 200, 15, ""},
		{"metric missing", "# TYPE other_total counter\nother_total 3\n", 200, 0, "has no streamdash_producer_posts_written_total"},
		{"not metrics", "<html>", 200, 0, "parse"},
		{"server error", "", 500, 0, "500"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			got, err := scrapeCounter(context.Background(), srv.Client(), srv.URL+"/metrics", postsWrittenMetric)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("scrapeCounter = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}
