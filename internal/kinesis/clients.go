package kinesis

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// Credentials are static access keys from a pipeline's Secret.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
}

// Clients builds and caches one Streams per region and identity. Base carries
// everything the SDK's default chain found (including AWS_ENDPOINT_URL_KINESIS
// and AWS_ENDPOINT_URL), so a local emulator is used without special cases.
type Clients struct {
	Base aws.Config

	mu    sync.Mutex
	cache map[string]Streams
}

// maxCachedClients bounds the cache; rotated keys would otherwise accumulate.
const maxCachedClients = 512

// For returns Streams for region (Base's region when empty) using creds, or
// Base's credentials when creds is nil.
func (c *Clients) For(region string, creds *Credentials) Streams {
	if region == "" {
		region = c.Base.Region
	}
	key := region
	if creds != nil {
		sum := sha256.Sum256([]byte(creds.AccessKeyID + "\x00" + creds.SecretAccessKey))
		key += "/" + hex.EncodeToString(sum[:])
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.cache[key]; ok {
		return s
	}
	if c.cache == nil || len(c.cache) >= maxCachedClients {
		c.cache = map[string]Streams{}
	}
	cfg := c.Base.Copy()
	cfg.Region = region
	if creds != nil {
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, ""))
	}
	s := SDK{API: awskinesis.NewFromConfig(cfg)}
	c.cache[key] = s
	return s
}
