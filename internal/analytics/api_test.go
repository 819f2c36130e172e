package analytics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	rockerr "github.com/rockset/rockset-go-client/errors"
	"github.com/rockset/rockset-go-client/option"

	"github.com/streamdash/streamdash/internal/analytics"
)

func apiErr(t *testing.T, err error, wantType string, wantStatus int) {
	t.Helper()
	var re rockerr.Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want a %s API error", err, wantType)
	}
	if re.ErrorModel == nil || re.GetType() != wantType || re.StatusCode != wantStatus {
		t.Fatalf("err = %v (type %q, status %d), want %s %d", err, re.ErrorModel.GetType(), re.StatusCode, wantType, wantStatus)
	}
}

func TestAuth(t *testing.T) {
	ts := startServer(t, analytics.Config{})
	ctx := context.Background()
	// The client's Ping ignores an API client given through WithAPIClient
	// (internal/rockset's plain-HTTP path), so ping over plain HTTP.
	resp, err := http.Get(ts.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	var ping struct{ Message string }
	if err := json.NewDecoder(resp.Body).Decode(&ping); err != nil || ping.Message != "GO ROCKSET!" {
		t.Fatalf("ping = %+v, %v", ping, err)
	}
	resp.Body.Close()
	if _, err := ts.rc.GetOrganization(ctx); err != nil {
		t.Fatalf("organization with the right key: %v", err)
	}
	_, err = client(t, ts.url, "wrong-key").GetOrganization(ctx)
	apiErr(t, err, "AUTHEXCEPTION", 401)

	tests := []struct {
		name, header string
		want         int
	}{
		{"no header", "", 401},
		{"wrong scheme", "Bearer " + testKey, 401},
		{"key prefix", "ApiKey " + testKey[:5], 401},
		{"empty key", "ApiKey ", 401},
		{"lower-case scheme", "apikey " + testKey, 200},
		{"spec spelling", "ApiKey " + testKey, 200},
		{"upper-case scheme", "APIKEY " + testKey, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, ts.url+"/v1/orgs/self/ws/commons", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tc.want, body)
			}
			if tc.want == 401 {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil || m["type"] != "AUTHEXCEPTION" {
					t.Fatalf("body = %s, want an AUTHEXCEPTION ErrorModel", body)
				}
				if strings.Contains(string(body), "commons") || len(m) != 2 {
					t.Errorf("401 body reveals more than message and type: %s", body)
				}
			}
		})
	}
	for _, tc := range []struct {
		path, key string
		want      int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/metrics", "", 401},
		{"/metrics", "wrong", 401},
		{"/metrics", testKey, 200},
	} {
		req, _ := http.NewRequest(http.MethodGet, ts.url+tc.path, nil)
		if tc.key != "" {
			req.Header.Set("Authorization", "ApiKey "+tc.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s with key %q = %d, want %d", tc.path, tc.key, resp.StatusCode, tc.want)
		}
	}
}

func TestWorkspacesIntegrationsCollectionsLambdas(t *testing.T) {
	dataDir := t.TempDir()
	ts := startServer(t, analytics.Config{DataDir: dataDir})
	ctx := context.Background()
	rc := ts.rc

	// Workspaces.
	if _, err := rc.GetWorkspace(ctx, "commons"); err != nil {
		t.Fatalf("commons: %v", err)
	}
	if _, err := rc.CreateWorkspace(ctx, "team", option.WithWorkspaceDescription("a team")); err != nil {
		t.Fatal(err)
	}
	_, err := rc.CreateWorkspace(ctx, "team")
	apiErr(t, err, "ALREADYEXISTS", 409)
	wss, err := rc.ListWorkspaces(ctx)
	if err != nil || len(wss) != 2 {
		t.Fatalf("workspaces = %v, %v; want commons and team", wss, err)
	}
	_, err = rc.GetWorkspace(ctx, "nope")
	apiErr(t, err, "NOTFOUND", 404)

	// Integrations: the secret never comes back.
	integ, err := rc.CreateKinesisIntegration(ctx, "keys", option.AWSKeys("AKIDEXAMPLE", "s3cr3t-value"))
	if err != nil {
		t.Fatal(err)
	}
	if integ.Kinesis == nil || integ.Kinesis.AwsAccessKey.AwsAccessKeyId != "AKIDEXAMPLE" {
		t.Fatalf("integration = %+v", integ)
	}
	if _, err := rc.CreateKinesisIntegration(ctx, "role", option.AWSRole("arn:aws:iam::123456789012:role/reader")); err != nil {
		t.Fatal(err)
	}
	_, err = rc.CreateKinesisIntegration(ctx, "keys", option.AWSKeys("a", "b"))
	apiErr(t, err, "ALREADYEXISTS", 409)
	raw := get(t, ts.url+"/v1/orgs/self/integrations/keys")
	if strings.Contains(raw, "s3cr3t-value") || !strings.Contains(raw, `"data"`) {
		t.Fatalf("integration JSON = %s: want a data envelope without the secret", raw)
	}
	list, err := rc.ListIntegrations(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("integrations = %v, %v", list, err)
	}

	// Collections: a Kinesis source on an integration makes it a dependency.
	c, err := rc.CreateCollection(ctx, "team", "events",
		option.WithCollectionDescription("first"),
		option.WithCollectionRetentionSeconds(7200),
		option.WithEventTimeInfo("timestamp_ms", "UTC", option.EventTimeInfoFormat("milliseconds_since_epoch")),
		option.WithIngestTransformation("SELECT * FROM _input"),
		kinesisSource("keys", "no-such-stream", "us-east-1", "EARLIEST"))
	if err != nil {
		t.Fatal(err)
	}
	if c.GetName() != "events" || c.GetWorkspace() != "team" || c.GetRetentionSecs() != 7200 || len(c.Sources) != 1 ||
		c.Sources[0].Kinesis.GetOffsetResetPolicy() != "EARLIEST" || c.Sources[0].GetId() == "" {
		t.Fatalf("collection = %+v", c)
	}
	_, err = rc.CreateCollection(ctx, "team", "events")
	apiErr(t, err, "ALREADYEXISTS", 409)
	_, err = rc.CreateCollection(ctx, "nope", "x")
	apiErr(t, err, "NOTFOUND", 404)
	_, err = rc.CreateCollection(ctx, "team", "bad", option.WithIngestTransformation("SELECT * FROM read_csv('/etc/passwd')"))
	apiErr(t, err, "INVALIDINPUT", 400)
	_, err = rc.CreateCollection(ctx, "team", "bad", option.WithCollectionRetentionSeconds(10))
	apiErr(t, err, "INVALIDINPUT", 400)

	c, err = rc.UpdateCollection(ctx, "team", "events", option.WithCollectionDescription("second"),
		option.WithIngestTransformation("SELECT id_str AS _id, * FROM _input"))
	if err != nil || c.GetDescription() != "second" || c.FieldMappingQuery.GetSql() != "SELECT id_str AS _id, * FROM _input" {
		t.Fatalf("update = %+v, %v", c, err)
	}
	colls, err := rc.ListCollections(ctx, option.WithWorkspace("team"))
	if err != nil || len(colls) != 1 {
		t.Fatalf("collections = %v, %v", colls, err)
	}
	all, err := rc.ListCollections(ctx) // team.events and the built-in commons._events
	if err != nil || len(all) != 2 {
		t.Fatalf("all collections = %v, %v", all, err)
	}
	srcs := get(t, ts.url+"/v1/orgs/self/ws/team/collections/events/sources")
	if !strings.Contains(srcs, `"status"`) || !strings.Contains(srcs, `"no-such-stream"`) {
		t.Fatalf("sources = %s", srcs)
	}
	srcID := c.Sources[0].GetId()
	if one := get(t, ts.url+"/v1/orgs/self/ws/team/collections/events/sources/"+srcID); !strings.Contains(one, srcID) {
		t.Fatalf("source = %s", one)
	}
	err = rc.DeleteIntegration(ctx, "keys")
	apiErr(t, err, "DEPENDENTRESOURCES", 400)
	err = rc.DeleteWorkspace(ctx, "team")
	apiErr(t, err, "DEPENDENTRESOURCES", 400)

	// Query lambdas: versions, tags, defaults overridden by the caller.
	const q1 = `SELECT :n * 2 AS doubled, :s AS s`
	v1, err := rc.CreateQueryLambda(ctx, "team", "calc", q1, option.WithDefaultParameter("n", "int", "21"), option.WithDefaultParameter("s", "string", "default"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = rc.CreateQueryLambda(ctx, "team", "calc", q1)
	apiErr(t, err, "ALREADYEXISTS", 409)
	v2, err := rc.UpdateQueryLambda(ctx, "team", "calc", `SELECT :n * 3 AS tripled`, option.WithDefaultParameter("n", "int", "5"))
	if err != nil || v2.GetVersion() == v1.GetVersion() {
		t.Fatalf("update lambda = %+v, %v", v2, err)
	}
	if _, err := rc.CreateQueryLambdaTag(ctx, "team", "calc", v1.GetVersion(), "stable"); err != nil {
		t.Fatal(err)
	}
	res, err := rc.ExecuteQueryLambda(ctx, "team", "calc", option.WithTag("stable"), option.WithQueryLambdaParameter("s", "string", "mine"))
	if err != nil || len(res.Results) != 1 || res.Results[0]["doubled"] != 42.0 || res.Results[0]["s"] != "mine" {
		t.Fatalf("execute by tag = %+v, %v; want doubled 42 from the default and s from the caller", res.Results, err)
	}
	res, err = rc.ExecuteQueryLambda(ctx, "team", "calc", option.WithVersion(v2.GetVersion()), option.WithQueryLambdaParameter("n", "int", "2"))
	if err != nil || res.Results[0]["tripled"] != 6.0 {
		t.Fatalf("execute by version = %+v, %v", res.Results, err)
	}
	res, err = rc.ExecuteQueryLambda(ctx, "team", "calc")
	if err != nil || res.Results[0]["tripled"] != 15.0 {
		t.Fatalf("execute latest = %+v, %v", res.Results, err)
	}
	versions, err := rc.ListQueryLambdaVersions(ctx, "team", "calc")
	if err != nil || len(versions) != 2 {
		t.Fatalf("versions = %v, %v", versions, err)
	}
	tag, err := rc.GetQueryLambdaVersionByTag(ctx, "team", "calc", "stable")
	if err != nil || tag.Version.GetVersion() != v1.GetVersion() {
		t.Fatalf("tag = %+v, %v", tag, err)
	}
	lambdas, err := rc.ListQueryLambdas(ctx, option.WithQueryLambdaWorkspace("team"))
	if err != nil || len(lambdas) != 1 || lambdas[0].GetVersionCount() != 2 {
		t.Fatalf("lambdas = %+v, %v", lambdas, err)
	}
	_, err = rc.ExecuteQueryLambda(ctx, "team", "calc", option.WithTag("nope"))
	apiErr(t, err, "NOTFOUND", 404)

	// Restart: everything is still there.
	ts.stop()
	ts = startServer(t, analytics.Config{DataDir: dataDir})
	rc = ts.rc
	if c, err := rc.GetCollection(ctx, "team", "events"); err != nil || c.GetDescription() != "second" {
		t.Fatalf("collection after restart = %+v, %v", c, err)
	}
	if _, err := rc.GetIntegration(ctx, "role"); err != nil {
		t.Fatalf("integration after restart: %v", err)
	}
	if res, err := rc.ExecuteQueryLambda(ctx, "team", "calc", option.WithTag("stable")); err != nil || res.Results[0]["doubled"] != 42.0 {
		t.Fatalf("lambda after restart = %+v, %v", res, err)
	}

	// Deletes, in dependency order.
	if err := rc.DeleteQueryLambda(ctx, "team", "calc"); err != nil {
		t.Fatal(err)
	}
	_, err = rc.ExecuteQueryLambda(ctx, "team", "calc")
	apiErr(t, err, "NOTFOUND", 404)
	if err := rc.DeleteCollection(ctx, "team", "events"); err != nil {
		t.Fatal(err)
	}
	_, err = rc.GetCollection(ctx, "team", "events")
	apiErr(t, err, "NOTFOUND", 404)
	_, err = rc.Query(ctx, "SELECT count(*) FROM team.events")
	apiErr(t, err, "QUERY_ERROR", 400)
	for _, name := range []string{"keys", "role"} {
		if err := rc.DeleteIntegration(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := rc.DeleteWorkspace(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	err = rc.DeleteWorkspace(ctx, "commons")
	apiErr(t, err, "INVALIDINPUT", 400)
}

func TestQueryRefusalsAndLimits(t *testing.T) {
	ts := startServer(t, analytics.Config{MaxRowLimit: 50})
	ctx := context.Background()
	refused := []string{
		`COPY (SELECT 1) TO '/tmp/analytics-copy.csv'`,
		`ATTACH '/tmp/analytics-attach.db' AS x`,
		`INSTALL httpfs`,
		`LOAD httpfs`,
		`PRAGMA database_list`,
		`SET enable_external_access = true`,
		`SELECT * FROM read_csv('/etc/passwd')`,
		`SELECT * FROM read_json_auto('/etc/passwd')`,
		`SELECT * FROM read_parquet('/tmp/x.parquet')`,
		`SELECT * FROM glob('/etc/*')`,
		`SELECT * FROM read_text('/etc/passwd')`,
		`SELECT * FROM '/etc/passwd'`,
		`SELECT * FROM _sd_checkpoints`,
		`SELECT 1; SELECT 2`,
		`CREATE TABLE x (a INT)`,
	}
	for _, q := range refused {
		t.Run(q, func(t *testing.T) {
			_, err := ts.rc.Query(ctx, q)
			apiErr(t, err, "QUERY_ERROR", 400)
		})
	}
	t.Run("parameter is a value", func(t *testing.T) {
		res, err := ts.rc.Query(ctx, `SELECT :p AS v, length(:p) AS n`, option.WithParameter("p", "string", "'); DROP TABLE x; --"))
		if err != nil || res.Results[0]["v"] != "'); DROP TABLE x; --" {
			t.Fatalf("res = %+v, %v", res.Results, err)
		}
	})
	t.Run("bad parameter value", func(t *testing.T) {
		_, err := ts.rc.Query(ctx, `SELECT :n + 1`, option.WithParameter("n", "int", "1 OR 1=1"))
		apiErr(t, err, "QUERY_ERROR", 400)
	})
	t.Run("row limit capped", func(t *testing.T) {
		res, err := ts.rc.Query(ctx, `SELECT * FROM range(1000)`, option.WithDefaultRowLimit(10))
		if err != nil || len(res.Results) != 10 {
			t.Fatalf("rows = %d, %v; want 10", len(res.Results), err)
		}
		res, err = ts.rc.Query(ctx, `SELECT * FROM range(1000)`)
		if err != nil || len(res.Results) != 50 {
			t.Fatalf("rows = %d, %v; want the server cap 50", len(res.Results), err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		_, err := ts.rc.Query(ctx, `SELECT count(*) FROM range(100000000000) a`, option.WithTimeout(100*time.Millisecond))
		apiErr(t, err, "QUERY_TIMEOUT", 408)
	})
	t.Run("column names", func(t *testing.T) {
		res, err := ts.rc.Query(ctx, `SELECT count(*), max(x) FROM range(3) t(x)`)
		if err != nil {
			t.Fatal(err)
		}
		if res.Results[0]["?count"] != 3.0 || res.Results[0]["?max"] != 2.0 || res.ColumnFields[0].Name != "?count" {
			t.Fatalf("res = %+v %+v", res.Results, res.ColumnFields)
		}
	})
	t.Run("validate", func(t *testing.T) {
		v, err := ts.rc.ValidateQuery(ctx, `SELECT :a + :b`)
		if err != nil || len(v.Parameters) != 2 {
			t.Fatalf("validate = %+v, %v", v, err)
		}
		_, err = ts.rc.ValidateQuery(ctx, `DROP TABLE x`)
		apiErr(t, err, "QUERY_ERROR", 400)
	})
}

func get(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "ApiKey "+testKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
