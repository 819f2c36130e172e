// Package panels holds the dashboard's panel queries exactly as
// /work/shared/briefs/panel-sql.md writes them (the SQL contract between the
// dashboard, the LiveDashboard controller and the analytics server), with the
// collection reference as a placeholder, so the server's tests and benchmarks
// run the very text clients send.
package panels

import "strings"

// Placeholder is replaced by the quoted collection reference.
const Placeholder = `"ws"."coll"`

// Queries by panel name.
var Queries = map[string]string{
	"live_tweets": `SELECT t.id_str, t._event_time AS event_time, t.user.screen_name AS screen_name, t.text
  FROM "ws"."coll" AS t WHERE t._event_time >= :since ORDER BY t._event_time DESC LIMIT :limit`,
	"top_hashtags": `WITH tags AS (
    SELECT DISTINCT t._id AS tweet, LOWER(h.text) AS hashtag
    FROM "ws"."coll" AS t, UNNEST(t.entities.hashtags) AS h
    WHERE t._event_time >= :since)
  SELECT hashtag, COUNT(*) AS tweet_count FROM tags GROUP BY hashtag
  ORDER BY tweet_count DESC, hashtag LIMIT :limit`,
	"incoming_tweets": `SELECT time_bucket(INTERVAL '2 seconds', t._event_time) AS bucket, COUNT(*) AS tweets
  FROM "ws"."coll" AS t WHERE t._event_time >= :since GROUP BY bucket ORDER BY bucket`,
	"count": `SELECT COUNT(*) AS tweets FROM "ws"."coll" AS t WHERE t._event_time >= :since`,
	"hashtag_live_tweets": `SELECT t.id_str, t._event_time AS event_time, t.user.screen_name AS screen_name, t.text
  FROM "ws"."coll" AS t
  WHERE t._event_time >= :since
    AND EXISTS (SELECT 1 FROM UNNEST(t.entities.hashtags) AS h WHERE LOWER(h.text) = LOWER(:hashtag))
  ORDER BY t._event_time DESC LIMIT :limit`,
	"related_hashtags": `WITH tagged AS (
    SELECT DISTINCT t._id AS tweet FROM "ws"."coll" AS t, UNNEST(t.entities.hashtags) AS h
    WHERE t._event_time >= :since AND LOWER(h.text) = LOWER(:hashtag)),
  pairs AS (
    SELECT DISTINCT t._id AS tweet, LOWER(h.text) AS hashtag
    FROM "ws"."coll" AS t, UNNEST(t.entities.hashtags) AS h
    WHERE t._event_time >= :since AND t._id IN (SELECT tweet FROM tagged))
  SELECT hashtag, COUNT(*) AS tweet_count FROM pairs WHERE hashtag <> LOWER(:hashtag)
  GROUP BY hashtag ORDER BY tweet_count DESC, hashtag LIMIT :limit`,
	"influencers": `SELECT t.user.screen_name AS screen_name, MAX(t.user.followers_count) AS followers_count
  FROM "ws"."coll" AS t, UNNEST(t.entities.hashtags) AS h
  WHERE t._event_time >= :since AND LOWER(h.text) = LOWER(:hashtag)
  GROUP BY t.user.screen_name ORDER BY followers_count DESC, screen_name LIMIT :limit`,
	"hashtag_count": `SELECT COUNT(*) AS tweets FROM "ws"."coll" AS t WHERE t._event_time >= :since
    AND EXISTS (SELECT 1 FROM UNNEST(t.entities.hashtags) AS h WHERE LOWER(h.text) = LOWER(:hashtag))`,
}

// For returns the panel query with ref (e.g. `"commons"."demo-tweets"`) as its collection.
func For(name, ref string) string {
	return strings.ReplaceAll(Queries[name], Placeholder, ref)
}
