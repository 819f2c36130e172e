package panels

import (
	"fmt"
	"regexp"
	"strings"
)

// The panel queries, as in the SQL contract (shared/briefs/panel-sql.md).
// "%[1]s" is the quoted collection; every value is a :parameter, so nothing
// that comes from a URL or a spec is ever spliced into SQL text.
const (
	sqlLiveTweets = `SELECT t.id_str, t._event_time AS event_time, t.user.screen_name AS screen_name, t.text
FROM %[1]s AS t WHERE t._event_time >= :since ORDER BY t._event_time DESC LIMIT :limit`

	sqlTopHashtags = `WITH tags AS (
  SELECT DISTINCT t._id AS tweet, LOWER(h.text) AS hashtag
  FROM %[1]s AS t, UNNEST(t.entities.hashtags) AS h
  WHERE t._event_time >= :since)
SELECT hashtag, COUNT(*) AS tweet_count FROM tags GROUP BY hashtag
ORDER BY tweet_count DESC, hashtag LIMIT :limit`

	sqlIncoming = `SELECT time_bucket(INTERVAL '2 seconds', t._event_time) AS bucket, COUNT(*) AS tweets
FROM %[1]s AS t WHERE t._event_time >= :since GROUP BY bucket ORDER BY bucket`

	sqlCount = `SELECT COUNT(*) AS tweets, MIN(t._event_time) AS first FROM %[1]s AS t WHERE t._event_time >= :since`

	sqlHashtagTweets = `SELECT t.id_str, t._event_time AS event_time, t.user.screen_name AS screen_name, t.text
FROM %[1]s AS t
WHERE t._event_time >= :since
  AND EXISTS (SELECT 1 FROM UNNEST(t.entities.hashtags) AS h WHERE LOWER(h.text) = LOWER(:hashtag))
ORDER BY t._event_time DESC LIMIT :limit`

	sqlRelated = `WITH tagged AS (
  SELECT DISTINCT t._id AS tweet FROM %[1]s AS t, UNNEST(t.entities.hashtags) AS h
  WHERE t._event_time >= :since AND LOWER(h.text) = LOWER(:hashtag)),
pairs AS (
  SELECT DISTINCT t._id AS tweet, LOWER(h.text) AS hashtag
  FROM %[1]s AS t, UNNEST(t.entities.hashtags) AS h
  WHERE t._event_time >= :since AND t._id IN (SELECT tweet FROM tagged))
SELECT hashtag, COUNT(*) AS tweet_count FROM pairs WHERE hashtag <> LOWER(:hashtag)
GROUP BY hashtag ORDER BY tweet_count DESC, hashtag LIMIT :limit`

	sqlInfluencers = `SELECT t.user.screen_name AS screen_name, MAX(t.user.followers_count) AS followers_count
FROM %[1]s AS t, UNNEST(t.entities.hashtags) AS h
WHERE t._event_time >= :since AND LOWER(h.text) = LOWER(:hashtag)
GROUP BY t.user.screen_name ORDER BY followers_count DESC, screen_name LIMIT :limit`

	sqlHashtagCount = `SELECT COUNT(*) AS tweets, MIN(t._event_time) AS first FROM %[1]s AS t WHERE t._event_time >= :since
  AND EXISTS (SELECT 1 FROM UNNEST(t.entities.hashtags) AS h WHERE LOWER(h.text) = LOWER(:hashtag))`
)

// namePattern is Rockset's rule for workspace and collection names (and the
// CRD's): identifiers are the one part of a query that cannot be a parameter,
// so they are checked here and quoted as well.
var namePattern = regexp.MustCompile(`^[[:alnum:]][[:alnum:]_-]{0,99}$`)

// From is the quoted "workspace"."collection" for a FROM clause.
func From(workspace, collection string) (string, error) {
	if workspace == "" {
		workspace = "commons"
	}
	for _, n := range []string{workspace, collection} {
		if !namePattern.MatchString(n) {
			return "", fmt.Errorf("panels: invalid workspace or collection name %q", n)
		}
	}
	return quoteIdent(workspace) + "." + quoteIdent(collection), nil
}

func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// Queries is every panel's query by name, with %[1]s where the quoted
// collection goes. It is the one source of the panel SQL: the dashboard and
// the controller run it through Runner, the analytics server's tests and
// benchmarks through For.
var Queries = map[string]string{
	"live_tweets":         sqlLiveTweets,
	"top_hashtags":        sqlTopHashtags,
	"incoming_tweets":     sqlIncoming,
	"count":               sqlCount,
	"hashtag_live_tweets": sqlHashtagTweets,
	"related_hashtags":    sqlRelated,
	"influencers":         sqlInfluencers,
	"hashtag_count":       sqlHashtagCount,
}

// For is the named panel's query over from (a quoted reference, as From
// returns it, or a bare table name).
func For(panel, from string) string { return fmt.Sprintf(Queries[panel], from) }
