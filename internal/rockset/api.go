package rockset

import (
	"context"
	"net/http"
	"time"

	rs "github.com/rockset/rockset-go-client"
	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/openapi"
	"github.com/rockset/rockset-go-client/option"
	rsretry "github.com/rockset/rockset-go-client/retry"
)

// API is what the TwitterPipeline controller does on a Rockset-API server.
// Every method returns an *Error on failure (see errors.go), so callers
// decide by kind, never by text; every method is one request, so a caller
// that backs off itself never holds a worker in a retry loop.
type API interface {
	GetIntegration(ctx context.Context, name string) (Integration, error)
	// CreateKinesisIntegration creates an integration reading Kinesis with creds.
	CreateKinesisIntegration(ctx context.Context, name, description string, creds AWSCredentials) (Integration, error)
	// UpdateKinesisIntegration gives an integration new credentials
	// (Rockset's updateIntegration, PUT /integrations/{name}), so a collection
	// keeps its source, checkpoint and documents across a key rotation.
	UpdateKinesisIntegration(ctx context.Context, name string, creds AWSCredentials) error
	DeleteIntegration(ctx context.Context, name string) error
	// EnsureWorkspace creates the workspace when it does not exist.
	EnsureWorkspace(ctx context.Context, name, description string) (created bool, err error)
	GetCollection(ctx context.Context, workspace, name string) (Collection, error)
	CreateCollection(ctx context.Context, workspace, name string, spec CollectionSpec) (Collection, error)
	UpdateCollection(ctx context.Context, workspace, name string, u CollectionChange) (Collection, error)
	DeleteCollection(ctx context.Context, workspace, name string) error
}

// Client implements API over rockset-go-client.
type Client struct {
	rc *rs.RockClient
}

var _ API = (*Client)(nil)

// noRetry makes each client call a single request. The stock retrier retries
// 429/503 inside the call, which would hold a controller worker; callers back
// off themselves, with jitter, between attempts.
type noRetry struct{}

func (noRetry) Retry(_ context.Context, fn rsretry.Func) error { return fn() }
func (noRetry) RetryWithCheck(_ context.Context, fn rsretry.CheckFn) error {
	_, err := fn()
	return err
}

// New returns the API for apiServer (see NewClient for the forms it takes).
func New(apiServer, apiKey string, httpClient *http.Client) (*Client, error) {
	rc, err := NewClient(apiServer, apiKey, httpClient)
	if err != nil {
		return nil, err
	}
	rc.Retrier = noRetry{}
	return &Client{rc: rc}, nil
}

func (c *Client) GetIntegration(ctx context.Context, name string) (Integration, error) {
	i, err := c.rc.GetIntegration(ctx, name)
	if err != nil {
		return Integration{}, wrap("read integration "+name, err)
	}
	return Integration{Name: i.Name, Description: i.GetDescription()}, nil
}

func (c *Client) CreateKinesisIntegration(ctx context.Context, name, description string, creds AWSCredentials) (Integration, error) {
	fn := func(*option.AWSCredentials) {}
	switch {
	case creds.AccessKeyID != "":
		fn = option.AWSKeys(creds.AccessKeyID, creds.SecretAccessKey)
	case creds.RoleARN != "":
		fn = option.AWSRole(creds.RoleARN)
	}
	i, err := c.rc.CreateKinesisIntegration(ctx, name, fn, option.WithKinesisIntegrationDescription(description))
	if err != nil {
		return Integration{}, wrap("create integration "+name, err)
	}
	return Integration{Name: i.Name, Description: i.GetDescription()}, nil
}

func (c *Client) UpdateKinesisIntegration(ctx context.Context, name string, creds AWSCredentials) error {
	k := openapi.KinesisIntegration{}
	switch {
	case creds.AccessKeyID != "":
		k.AwsAccessKey = &openapi.AwsAccessKey{AwsAccessKeyId: creds.AccessKeyID, AwsSecretAccessKey: creds.SecretAccessKey}
	case creds.RoleARN != "":
		k.AwsRole = &openapi.AwsRole{AwsRoleArn: creds.RoleARN}
	}
	req := c.rc.IntegrationsApi.UpdateIntegration(ctx, name).Body(openapi.UpdateIntegrationRequest{Kinesis: &k})
	err := c.rc.Retry(ctx, func() error {
		_, resp, err := req.Execute()
		return rockerr.NewWithStatusCode(err, resp)
	})
	return wrap("update integration "+name, err)
}

func (c *Client) DeleteIntegration(ctx context.Context, name string) error {
	return wrap("delete integration "+name, c.rc.DeleteIntegration(ctx, name))
}

func (c *Client) EnsureWorkspace(ctx context.Context, name, description string) (bool, error) {
	_, err := c.rc.GetWorkspace(ctx, name)
	if err == nil {
		return false, nil
	}
	if classify(err) != KindNotFound {
		return false, wrap("read workspace "+name, err)
	}
	_, err = c.rc.CreateWorkspace(ctx, name, option.WithWorkspaceDescription(description))
	if err != nil && classify(err) != KindConflict {
		return false, wrap("create workspace "+name, err)
	}
	return err == nil, nil
}

func (c *Client) GetCollection(ctx context.Context, workspace, name string) (Collection, error) {
	col, err := c.rc.GetCollection(ctx, workspace, name)
	if err != nil {
		return Collection{}, wrap("read collection "+workspace+"."+name, err)
	}
	return fromOpenAPI(col), nil
}

func (c *Client) CreateCollection(ctx context.Context, workspace, name string, spec CollectionSpec) (Collection, error) {
	col, err := c.rc.CreateCollection(ctx, workspace, name, createOptions(spec)...)
	if err != nil {
		return Collection{}, wrap("create collection "+workspace+"."+name, err)
	}
	return fromOpenAPI(col), nil
}

func (c *Client) UpdateCollection(ctx context.Context, workspace, name string, u CollectionChange) (Collection, error) {
	var opts []option.CollectionOption
	if u.Description != nil {
		opts = append(opts, option.WithCollectionDescription(*u.Description))
	}
	if u.Transform != nil {
		opts = append(opts, option.WithIngestTransformation(*u.Transform))
	}
	col, err := c.rc.UpdateCollection(ctx, workspace, name, opts...)
	if err != nil {
		return Collection{}, wrap("update collection "+workspace+"."+name, err)
	}
	return fromOpenAPI(col), nil
}

func (c *Client) DeleteCollection(ctx context.Context, workspace, name string) error {
	return wrap("delete collection "+workspace+"."+name, c.rc.DeleteCollection(ctx, workspace, name))
}

// createOptions is the full create request. CreateKinesisCollection cannot
// set offset_reset_policy, hence a CollectionOption of our own for the source.
func createOptions(spec CollectionSpec) []option.CollectionOption {
	opts := []option.CollectionOption{
		option.WithCollectionDescription(spec.Description),
		func(req *openapi.CreateCollectionRequest) {
			req.Sources = []openapi.Source{{
				IntegrationName: openapi.PtrString(spec.Integration),
				Kinesis: &openapi.SourceKinesis{
					StreamName:        spec.Stream,
					AwsRegion:         openapi.PtrString(spec.Region),
					OffsetResetPolicy: openapi.PtrString(spec.OffsetResetPolicy),
				},
				FormatParams: &openapi.FormatParams{Json: openapi.PtrBool(true)},
			}}
		},
	}
	if spec.EventTimeField != "" {
		opts = append(opts, option.WithEventTimeInfo(spec.EventTimeField, "UTC", option.MillisecondsSinceEpoch))
	}
	if spec.RetentionSecs > 0 {
		opts = append(opts, option.WithCollectionRetentionSeconds(spec.RetentionSecs))
	}
	if spec.Transform != "" {
		opts = append(opts, option.WithIngestTransformation(spec.Transform))
	}
	return opts
}

func fromOpenAPI(c openapi.Collection) Collection {
	out := Collection{
		Workspace: c.GetWorkspace(), Name: c.GetName(), Description: c.GetDescription(),
		Status: c.GetStatus(), RetentionSecs: c.GetRetentionSecs(),
	}
	if c.FieldMappingQuery != nil {
		out.Transform = c.FieldMappingQuery.GetSql()
	}
	if st := c.Stats; st != nil {
		out.DocCount = st.GetDocCount()
		if ms := st.GetLastUpdatedMs(); ms > 0 {
			out.LastUpdated = time.UnixMilli(ms).UTC()
		}
	}
	for _, s := range c.Sources {
		src := Source{IntegrationName: s.GetIntegrationName()}
		if k := s.Kinesis; k != nil {
			src.Stream, src.Region = k.StreamName, k.GetAwsRegion()
		}
		if st := s.Status; st != nil {
			src.State, src.Message = st.GetState(), st.GetMessage()
		}
		out.Sources = append(out.Sources, src)
	}
	return out
}
