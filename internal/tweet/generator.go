package tweet

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Generator produces a deterministic stream of synthetic documents with the
// skew of the real service: hashtags and authors follow Zipf distributions
// (a few dominate), a post has 0 to 4 hashtags, some hashtags come in mixed
// case (#Music and #music), and every author keeps one follower count.
//
// The sequence depends only on the seed: Next never reads the clock or any
// global state, so a test can recompute what a producer wrote from the seed
// and the count alone. A Generator is not safe for concurrent use.
type Generator struct {
	seed     int64
	rng      *rand.Rand
	tagZipf  *rand.Zipf
	userZipf *rand.Zipf
	tags     []string
	users    []User
	n        uint64
}

// Sizes of the synthetic vocabulary.
const (
	generatorTags  = 400
	generatorUsers = 5000
)

var (
	baseTags = []string{
		"music", "news", "ai", "football", "bitcoin", "travel", "food", "gaming", "art", "photography",
		"nba", "movies", "tech", "crypto", "fashion", "fitness", "love", "kpop", "anime", "science",
		"climate", "health", "books", "coffee", "golang", "kubernetes", "rust", "python", "startup", "marketing",
		"design", "nature", "dogs", "cats", "summer", "weekend", "motivation", "worldcup", "olympics", "f1",
		"election", "breaking", "weather", "jobs", "space", "history", "cooking", "running", "yoga", "poetry",
	}
	tagSuffixes = []string{"", "life", "daily", "news", "lovers", "2026", "fans", "tips", "world", "time"}
	words       = []string{
		"just", "saw", "the", "best", "new", "today", "this", "is", "amazing", "thread", "what", "do", "you",
		"think", "about", "live", "now", "watching", "listening", "to", "great", "day", "for", "some", "more",
		"can't", "believe", "how", "good", "it", "was", "finally", "here", "check", "out", "our", "latest",
		"big", "news", "loving", "every", "minute", "of", "wow", "so", "much", "fun", "tonight", "again",
	}
	adjectives = []string{"happy", "blue", "quiet", "rapid", "lucky", "brave", "sunny", "cosmic", "urban", "wild",
		"clever", "gentle", "golden", "silver", "misty", "bold", "calm", "eager", "fancy", "jolly"}
	nouns = []string{"otter", "falcon", "river", "panda", "comet", "maple", "harbor", "pixel", "tiger", "meadow",
		"lynx", "cedar", "ember", "koala", "nova", "orbit", "raven", "sparrow", "willow", "zephyr"}
	langs       = []string{"en", "ja", "es", "pt", "fr", "de", "ko"}
	langWeights = []float64{0.55, 0.15, 0.10, 0.07, 0.05, 0.04, 0.04}
	// hashtagCountWeights gives P(0..4 hashtags per post).
	hashtagCountWeights = []float64{0.30, 0.30, 0.20, 0.12, 0.08}
)

// NewGenerator returns a generator whose sequence is fixed by seed.
func NewGenerator(seed int64) *Generator {
	r := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	g := &Generator{seed: seed, rng: r}

	// The vocabulary is shuffled by the seed so that different seeds have
	// different leading hashtags and authors.
	tags := make([]string, 0, generatorTags)
	for _, s := range tagSuffixes {
		for _, b := range baseTags {
			if len(tags) < generatorTags {
				tags = append(tags, b+s)
			}
		}
	}
	r.Shuffle(len(tags), func(i, j int) { tags[i], tags[j] = tags[j], tags[i] })
	g.tags = tags

	g.users = make([]User, generatorUsers)
	for i := range g.users {
		a := adjectives[r.IntN(len(adjectives))]
		n := nouns[r.IntN(len(nouns))]
		num := strconv.Itoa(i)
		// Log-normal follower counts: median about 400, a long tail into millions.
		followers := int64(math.Exp(6 + 2.2*r.NormFloat64()))
		g.users[i] = User{
			IDStr:          strconv.FormatUint(uint64(1_000_000+i)+uint64(seed)%1_000_000*10_000_000, 10),
			ScreenName:     a + "_" + n + num,
			Name:           strings.ToUpper(a[:1]) + a[1:] + " " + strings.ToUpper(n[:1]) + n[1:],
			FollowersCount: followers,
		}
	}
	g.tagZipf = rand.NewZipf(r, 1.15, 1, uint64(len(g.tags)-1))
	g.userZipf = rand.NewZipf(r, 1.05, 2, uint64(len(g.users)-1))
	return g
}

// Next returns the next document, stamped with ts.
func (g *Generator) Next(ts time.Time) Document {
	r := g.rng
	g.n++
	d := Document{
		// Ids embed the seed so that two seeds never collide in one stream.
		IDStr:  strconv.FormatUint(1_000_000_000_000_000_000+uint64(g.seed)%1_000_000_000*1_000_000_000+g.n, 10),
		Lang:   langs[pick(r, langWeights)],
		User:   g.users[g.userZipf.Uint64()],
		Source: SourceReplay,
	}
	d.SetTime(ts)

	var b strings.Builder
	nw := 3 + r.IntN(10)
	for i := 0; i < nw; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[r.IntN(len(words))])
	}
	nh := pick(r, hashtagCountWeights)
	d.Entities.Hashtags = make([]Hashtag, 0, nh)
	for len(d.Entities.Hashtags) < nh {
		tag := g.tags[g.tagZipf.Uint64()]
		if hasFold(d.Entities.Hashtags, tag) {
			continue
		}
		switch x := r.Float64(); {
		case x < 0.15:
			tag = strings.ToUpper(tag[:1]) + tag[1:]
		case x < 0.18:
			tag = strings.ToUpper(tag)
		}
		b.WriteByte(' ')
		start := utf8.RuneCountInString(b.String())
		b.WriteByte('#')
		b.WriteString(tag)
		d.Entities.Hashtags = append(d.Entities.Hashtags, Hashtag{Text: tag, Indices: []int{start, start + 1 + utf8.RuneCountInString(tag)}})
	}
	d.Entities.URLs = []URL{}
	if r.Float64() < 0.2 {
		u := "https://example.com/" + g.tags[r.IntN(len(g.tags))] + "/" + strconv.Itoa(r.IntN(100000))
		b.WriteByte(' ')
		b.WriteString(u)
		d.Entities.URLs = append(d.Entities.URLs, URL{ExpandedURL: u})
	}
	d.Text = b.String()
	return d
}

func hasFold(hs []Hashtag, t string) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Text, t) {
			return true
		}
	}
	return false
}

func pick(r *rand.Rand, weights []float64) int {
	x := r.Float64()
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}
