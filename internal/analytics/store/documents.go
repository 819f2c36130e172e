package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Documents returns the stored documents with the given _ids, by _id, as
// JSON-ready objects. Fields the collection has but a document lacks read
// as NULL in the table and are left out, as they were never written.
func (c *Collection) Documents(ctx context.Context, ids []string) (map[string]map[string]any, error) {
	out := map[string]map[string]any{}
	if len(ids) == 0 {
		return out, nil
	}
	res, err := c.s.Query(ctx, `SELECT * FROM `+quoteIdent(c.Table)+` WHERE _id IN (`+literalList(ids)+`)`, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("read documents: %w", err)
	}
	for _, row := range res.Rows {
		id, _ := row["_id"].(string)
		for k, v := range row {
			if v == nil {
				delete(row, k)
			}
		}
		out[id] = row
	}
	return out, nil
}

// Delete removes the documents with the given _ids and returns the _ids that
// were there; the deletion and the counters commit together.
func (c *Collection) Delete(ctx context.Context, ids []string) (map[string]bool, error) {
	found := map[string]bool{}
	if len(ids) == 0 {
		return found, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	tx, err := c.s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `DELETE FROM `+quoteIdent(c.Table)+` WHERE _id IN (`+literalList(ids)+`) RETURNING _id`)
	if err != nil {
		return nil, fmt.Errorf("delete documents: %w", err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		found[id] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE _sd_stats SET last_updated_ms = $1 WHERE tbl = $2`, time.Now().UnixMilli(), c.Table); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	return found, tx.Commit()
}

func literalList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = quoteLiteral(v)
	}
	return strings.Join(q, ", ")
}
