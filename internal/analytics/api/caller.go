package api

import "context"

// Caller is who made a request: the API key's owner, the key's name and its
// role. Handlers read it to record who created what and to enforce roles.
type Caller struct {
	Email   string // the user the key belongs to
	KeyName string // "" for a key from the server's key file
	Role    string
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller of the request ctx belongs to.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}
