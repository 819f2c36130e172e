package livedashboard

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/streamdash/streamdash/controllers/names"
	"github.com/streamdash/streamdash/controllers/rocksetconn"
	"github.com/streamdash/streamdash/controllers/steps"
	"github.com/streamdash/streamdash/internal/panels"
	"github.com/streamdash/streamdash/internal/rockset"
)

// rocksetClients are the clients for one endpoint and the key they use,
// reused across dashboards and passes.
type rocksetClients struct {
	key     string
	querier panels.Querier
	access  rockset.Access
}

// rocksetClients returns the clients for conn: one set per endpoint, made
// again when the key changes, so a rotated or replaced key does not stay in
// memory. Pipelines using different keys on one endpoint take turns (a
// client is cheap to make; the HTTP client and its connections are shared).
func (r *Reconciler) rocksetClients(conn rocksetconn.Connection) (*rocksetClients, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[conn.APIServer]; ok && c.key == conn.APIKey {
		return c, nil
	}
	c := &rocksetClients{key: conn.APIKey}
	var err error
	if r.opts.NewQuerier != nil {
		c.querier, err = r.opts.NewQuerier(conn)
	} else {
		c.querier, err = rockset.NewClient(conn.APIServer, conn.APIKey, r.opts.HTTPClient)
	}
	if err != nil {
		return nil, err
	}
	if c.access, err = rockset.New(conn.APIServer, conn.APIKey, r.opts.HTTPClient); err != nil {
		return nil, err
	}
	r.clients[conn.APIServer] = c
	return c, nil
}

// refreshStatus runs the view's queries when they are due (once per
// refreshInterval, at once after a spec change) and schedules the next
// refresh. A failed refresh is an observation for QueriesHealthy, not a
// retry: the schedule stays the same.
func (r *Reconciler) refreshStatus(ctx context.Context, s *pass) steps.Outcome {
	d := s.d
	interval := refreshInterval(d)
	if !s.collectionReady {
		return steps.DoneAt(interval)
	}
	now := r.opts.Now()
	key := client.ObjectKeyFromObject(d)
	r.mu.Lock()
	mem := r.attempts[key]
	r.mu.Unlock()
	if mem.uid != d.UID {
		mem = attempt{} // a new object under an old name
	}
	due, wait := nextRefresh(lastAttempt(mem, d), d.Generation, interval, now)
	if !due {
		return steps.DoneAt(wait)
	}
	r.mu.Lock()
	r.attempts[key] = attempt{at: now, generation: d.Generation, uid: d.UID}
	r.mu.Unlock()

	s.refreshed, s.refreshedAt = true, now
	s.summary, s.queryErr = r.query(ctx, s, now)
	if s.queryErr != nil {
		log.FromContext(ctx).Info("dashboard queries failed", "reason", panels.Reason(s.queryErr), "error", s.queryErr.Error())
	}
	// The next refresh is an interval after this one began, not after its
	// queries ended: slow queries must not push every later refresh back. Had
	// they taken the whole interval, the next waits a full one.
	_, wait = nextRefresh(attempt{at: now, generation: d.Generation}, d.Generation, interval, r.opts.Now())
	return steps.DoneAt(wait)
}

func (r *Reconciler) query(ctx context.Context, s *pass, now time.Time) (panels.Summary, error) {
	runner, err := panels.New(s.clients.querier, names.Workspace(s.p), names.Collection(s.p))
	if err != nil {
		return panels.Summary{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.QueryTimeout)
	defer cancel()
	return runner.Summarize(ctx, view(s.d), now)
}
