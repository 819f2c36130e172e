package dashboard

import (
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/panels"
)

var dataHashtag = regexp.MustCompile(`data-hashtag="([^"]*)"`)

// refusingQuerier fails every query: the fuzz target is the request
// handling, not the analytics server.
type refusingQuerier struct{}

func (refusingQuerier) Query(context.Context, string, ...option.QueryOption) (openapi.QueryResponse, error) {
	return openapi.QueryResponse{}, context.Canceled
}

// FuzzHashtagPage: the hashtag in /hashtag/{tag} is outside input. Any value
// gets a page (200) or a refusal (400), and it never reaches the page as markup.
func FuzzHashtagPage(f *testing.F) {
	for _, s := range []string{"music", "x' OR '1'='1", "<script>alert(1)</script>", "#Music", " ", "\x00", "ünï", "\"><img src=x>", strings.Repeat("a", 140)} {
		f.Add(s)
	}
	srv, err := New(Config{Collection: "c"}, refusingQuerier{}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(srv.Close)
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, tag string) {
		req := httptest.NewRequest(http.MethodGet, "/hashtag/"+url.PathEscape(tag), nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusNotFound,
			http.StatusMovedPermanently, http.StatusTemporaryRedirect: // the mux cleans "." and ".." paths
		default:
			t.Fatalf("%q: status %d", tag, rec.Code)
		}
		if rec.Code != http.StatusOK {
			return
		}
		m := dataHashtag.FindStringSubmatch(rec.Body.String())
		if m == nil {
			t.Fatalf("%q: page has no data-hashtag attribute", tag)
		}
		if strings.ContainsAny(m[1], "<>\"") {
			t.Fatalf("%q: attribute value %q is not escaped", tag, m[1])
		}
		if got, want := html.UnescapeString(m[1]), panels.NormalizeHashtag(tag); got != want {
			t.Fatalf("%q: page carries hashtag %q, want %q", tag, got, want)
		}
	})
}
