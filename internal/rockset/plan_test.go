package rockset

import (
	"strings"
	"testing"
)

func TestNextCollectionAction(t *testing.T) {
	want := CollectionDesired{
		Spec:               CollectionSpec{Description: "streamdash TwitterPipeline team/demo", Stream: "s1"},
		AdoptedDescription: "streamdash TwitterPipeline team/demo (adopted)",
	}
	adopt := want
	adopt.Adopt = true
	withTransform := want
	withTransform.Spec.Transform = "SELECT * EXCEPT (text) FROM _input"

	ready := func(mut ...func(*Collection)) *Collection {
		c := &Collection{Description: want.Spec.Description, Status: CollectionReady,
			Sources: []Source{{Stream: "s1", State: SourceWatching}}}
		for _, m := range mut {
			m(c)
		}
		return c
	}
	tests := []struct {
		name     string
		want     CollectionDesired
		observed *Collection
		wantKind CollectionActionKind
		// wantMessage is a part the message must hold.
		wantMessage string
		// wantDescription / wantTransform: the update sends these (nil: not sent).
		wantDescription, wantTransform *string
		wantAdopting                   bool
		// wantRefused: the failure is AWS refusing the credentials.
		wantRefused bool
	}{
		{name: "missing: create", want: want, observed: nil, wantKind: CollectionCreate},
		{name: "ours, ready, source watching", want: want, observed: ready(), wantKind: CollectionNone},
		{name: "ours, source processing", want: want, observed: ready(func(c *Collection) { c.Sources[0].State = SourceProcessing }), wantKind: CollectionNone},
		{name: "adopted earlier counts as ours", want: want, observed: ready(func(c *Collection) { c.Description = want.AdoptedDescription }), wantKind: CollectionNone},
		{name: "not READY yet", want: want, observed: ready(func(c *Collection) { c.Status = "CREATED" }), wantKind: CollectionWait, wantMessage: "CREATED"},
		{name: "READY but source in ERROR is not healthy", want: want,
			observed: ready(func(c *Collection) {
				c.Sources[0].State, c.Sources[0].Message = SourceError, "write batch: cannot store record"
			}),
			wantKind:    CollectionSourceFailed,
			wantMessage: "stream s1 is ERROR: write batch: cannot store record"},
		{name: "not READY because the source failed: the source's reason wins", want: want,
			observed: ready(func(c *Collection) {
				c.Status = "CREATED"
				c.Sources[0].State, c.Sources[0].Message = SourceError, "list shards: denied"
			}),
			wantKind: CollectionSourceFailed, wantMessage: "list shards: denied"},
		{name: "revoked key: credentials refused", want: want,
			observed: ready(func(c *Collection) {
				c.Sources[0].State, c.Sources[0].Message = SourceError, "read: UnrecognizedClientException: The security token included in the request is invalid."
			}),
			wantKind: CollectionSourceFailed, wantMessage: "UnrecognizedClientException", wantRefused: true},
		{name: "not allowed to read: credentials refused", want: want,
			observed: ready(func(c *Collection) {
				c.Sources[0].State, c.Sources[0].Message = SourceError, "list shards: AccessDeniedException: not authorized to perform kinesis:ListShards"
			}),
			wantKind: CollectionSourceFailed, wantMessage: "AccessDeniedException", wantRefused: true},
		{name: "suspended source", want: want, observed: ready(func(c *Collection) { c.Sources[0].State = SourceSuspended }),
			wantKind: CollectionSourceFailed, wantMessage: "SUSPENDED"},
		{name: "source message with a key is redacted", want: want,
			observed: ready(func(c *Collection) {
				c.Sources[0].State, c.Sources[0].Message = SourceError, "denied for "+strings.Repeat("AKIAabc123", 5)
			}),
			wantKind: CollectionSourceFailed, wantMessage: "[redacted]"},
		{name: "reads another stream: conflict, never changed", want: adopt,
			observed: ready(func(c *Collection) { c.Sources[0].Stream = "other"; c.Description = "someone's" }),
			wantKind: CollectionConflict, wantMessage: "reads stream other, not s1"},
		{name: "someone else's: adoption required", want: want, observed: ready(func(c *Collection) { c.Description = "hand made" }),
			wantKind: CollectionAdoptionRequired},
		{name: "someone else's with Adopt: marked adopted", want: adopt, observed: ready(func(c *Collection) { c.Description = "hand made" }),
			wantKind: CollectionUpdate, wantDescription: &want.AdoptedDescription, wantAdopting: true},
		{name: "transformation added", want: withTransform, observed: ready(),
			wantKind: CollectionUpdate, wantTransform: &withTransform.Spec.Transform},
		{name: "transformation removed: reset to identity", want: want,
			observed: ready(func(c *Collection) { c.Transform = "SELECT * EXCEPT (text) FROM _input" }),
			wantKind: CollectionUpdate, wantTransform: ptr(IdentityTransform)},
		{name: "identity counts as none", want: want, observed: ready(func(c *Collection) { c.Transform = "select *  FROM _input" }),
			wantKind: CollectionNone},
		{name: "whitespace is not a change", want: withTransform,
			observed: ready(func(c *Collection) { c.Transform = "SELECT *\n  EXCEPT (text) FROM _input" }), wantKind: CollectionNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NextCollectionAction(tc.want, tc.observed)
			if got.Kind != tc.wantKind {
				t.Fatalf("kind = %s (%+v), want %s", got.Kind, got, tc.wantKind)
			}
			if !strings.Contains(got.Message, tc.wantMessage) {
				t.Errorf("message %q lacks %q", got.Message, tc.wantMessage)
			}
			if !samePtr(got.Update.Description, tc.wantDescription) || !samePtr(got.Update.Transform, tc.wantTransform) {
				t.Errorf("update = %s, want description %s transform %s", show(got.Update), deref(tc.wantDescription), deref(tc.wantTransform))
			}
			if got.CredentialsRefused != tc.wantRefused {
				t.Errorf("credentials refused = %v, want %v", got.CredentialsRefused, tc.wantRefused)
			}
			if got.Adopting != tc.wantAdopting {
				t.Errorf("adopting = %v, want %v", got.Adopting, tc.wantAdopting)
			}
		})
	}
}

func TestCollectionOwnership(t *testing.T) {
	want := CollectionDesired{Spec: CollectionSpec{Description: "mine"}, AdoptedDescription: "mine (adopted)"}
	for desc, o := range map[string]Ownership{"mine": Created, "mine (adopted)": Adopted, "": NotOwned, "mine, edited": NotOwned} {
		if got := CollectionOwnership(want, Collection{Description: desc}); got != o {
			t.Errorf("ownership of %q = %d, want %d", desc, got, o)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func samePtr(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func show(u CollectionChange) string {
	return "description " + deref(u.Description) + " transform " + deref(u.Transform)
}
