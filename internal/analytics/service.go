package analytics

import (
	"context"
	"crypto/rand"
	"fmt"
	"regexp"

	"github.com/rockset/rockset-go-client/openapi"

	"github.com/streamdash/streamdash/internal/analytics/api"
)

// The api.Service methods live one file per resource, as Rockset's API
// groups them: integrations.go, workspaces.go, collections.go, queries.go,
// lambdas.go. This file holds what they share.
var _ api.Service = (*Server)(nil)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,99}$`)

func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return api.Errorf(api.InvalidInput, "%s name %q must be 1-100 letters, digits, '_' or '-'", kind, name)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Organization answers GET /v1/orgs/self.
func (s *Server) Organization(ctx context.Context) openapi.Organization {
	return openapi.Organization{Id: ptr("streamdash"), DisplayName: ptr("streamdash analytics"), CreatedAt: ptr("1970-01-01T00:00:00Z")}
}
