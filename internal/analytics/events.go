package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/streamdash/streamdash/internal/analytics/api"
	"github.com/streamdash/streamdash/internal/analytics/meta"
	"github.com/streamdash/streamdash/internal/analytics/store"
)

// commons._events is Rockset's built-in collection of the organisation's
// events, with Rockset's field names: label, kind (COLLECTION, INTEGRATION,
// API_KEY, INGEST, ...), type (INFO, WARNING, ERROR), and per label
// collections, integrations, api_key_name, user_email, details. It is
// queryable like any collection and is written only by the server.
const (
	eventsWorkspace  = "commons"
	eventsCollection = "_events"
)

func isEvents(ws, coll string) bool { return ws == eventsWorkspace && coll == eventsCollection }

// ensureEvents creates commons._events on first start.
func (s *Server) ensureEvents(ctx context.Context) error {
	var c *meta.Collection
	err := s.meta.Update(func(st *meta.State) error {
		if found, ok := st.Collections[meta.Key(eventsWorkspace, eventsCollection)]; ok {
			c = found
			return nil
		}
		st.NextTable++
		c = &meta.Collection{
			Workspace: eventsWorkspace, Name: eventsCollection, Description: "the organisation's events",
			CreatedAt: now(), CreatedBy: createdBy, Table: fmt.Sprintf("c_%d", st.NextTable),
			RetentionSecs: 30 * 24 * 3600, // Rockset kept 30 days
		}
		st.Collections[meta.Key(eventsWorkspace, eventsCollection)] = c
		return nil
	})
	if err != nil {
		return err
	}
	cp := *c
	return s.openCollection(ctx, &cp)
}

// event records one event; a failure to record is logged, never returned:
// the action it describes has happened.
func (s *Server) event(ctx context.Context, label, kind, typ string, fields map[string]any) {
	doc := map[string]any{"label": label, "kind": kind, "type": typ}
	for k, v := range fields {
		doc[k] = v
	}
	if _, ok := doc["user_email"]; !ok && (kind == "COLLECTION" || kind == "INTEGRATION" || kind == "API_KEY") {
		doc["user_email"] = callerEmail(ctx)
	}
	b, err := json.Marshal(doc)
	if err == nil {
		var c *meta.Collection
		c, err = s.findCollection(eventsWorkspace, eventsCollection)
		if err == nil {
			sc, ok := s.store.Get(c.Table)
			if !ok {
				err = fmt.Errorf("no storage")
			} else {
				_, err = sc.Write(context.WithoutCancel(ctx), store.Batch{Records: []store.Record{{Data: b, RID: randomID(), Arrival: time.Now()}}})
			}
		}
	}
	if err != nil {
		s.log.Warn("event not recorded", "label", label, "error", err)
	}
}

func errEventsReadOnly() error {
	return api.Errorf(api.InvalidInput, "commons._events is written by the server only")
}
