package rockset

import (
	"fmt"
	"strings"
)

// IdentityTransform is the transformation that changes nothing. A
// collection's transformation can be changed but not removed, so "none" is
// written as this.
const IdentityTransform = "SELECT * FROM _input"

// CollectionDesired is what an owner wants of its collection.
type CollectionDesired struct {
	// Spec is what a new collection is created with; its Description marks
	// the collection as created by this owner.
	Spec CollectionSpec
	// AdoptedDescription marks a collection this owner adopted.
	AdoptedDescription string
	// Adopt allows taking over an existing collection that carries neither
	// marker. Without it such a collection is left alone.
	Adopt bool
}

// CollectionActionKind is the one thing to do about a collection on this pass.
type CollectionActionKind int

const (
	// CollectionNone: READY, owned, as desired, and every source is healthy.
	CollectionNone CollectionActionKind = iota
	// CollectionCreate: it does not exist.
	CollectionCreate
	// CollectionConflict: a collection of that name reads another stream.
	CollectionConflict
	// CollectionAdoptionRequired: it exists without this owner's marker and
	// adoption was not asked for.
	CollectionAdoptionRequired
	// CollectionUpdate: change it as Update says (Adopting when that takes it over).
	CollectionUpdate
	// CollectionWait: it is not READY yet.
	CollectionWait
	// CollectionSourceFailed: it exists, but a source cannot ingest; Message says why.
	CollectionSourceFailed
)

func (k CollectionActionKind) String() string {
	return [...]string{"None", "Create", "Conflict", "AdoptionRequired", "Update", "Wait", "SourceFailed"}[k]
}

// CollectionAction is a decision about a collection.
type CollectionAction struct {
	Kind CollectionActionKind
	// Update is set for CollectionUpdate.
	Update CollectionChange
	// Adopting says the update marks an existing collection as adopted.
	Adopting bool
	// Message explains Conflict, Wait and SourceFailed, from the observed state
	// (the server's source message is redacted).
	Message string
	// CredentialsRefused says a SourceFailed source was refused its AWS
	// credentials (revoked, wrong, expired, or not allowed to read).
	CredentialsRefused bool
}

// Ownership of an existing collection, from its description marker.
type Ownership int

const (
	// NotOwned: neither marker; someone else's.
	NotOwned Ownership = iota
	// Created: created by this owner.
	Created
	// Adopted: adopted by this owner.
	Adopted
)

// CollectionOwnership reads the marker in an existing collection's description.
func CollectionOwnership(want CollectionDesired, c Collection) Ownership {
	switch c.Description {
	case want.Spec.Description:
		return Created
	case want.AdoptedDescription:
		return Adopted
	default:
		return NotOwned
	}
}

// NextCollectionAction decides what to do given the desired collection and
// the observed one (nil when it does not exist). It never adopts silently,
// never changes a collection that reads another stream, and reports a
// source in ERROR even while the collection itself says READY.
func NextCollectionAction(want CollectionDesired, observed *Collection) CollectionAction {
	if observed == nil {
		return CollectionAction{Kind: CollectionCreate}
	}
	c := *observed
	for _, s := range c.Sources {
		if s.Stream != "" && s.Stream != want.Spec.Stream {
			return CollectionAction{Kind: CollectionConflict,
				Message: fmt.Sprintf("it reads stream %s, not %s", s.Stream, want.Spec.Stream)}
		}
	}
	var u CollectionChange
	adopting := false
	switch CollectionOwnership(want, c) {
	case NotOwned:
		if !want.Adopt {
			return CollectionAction{Kind: CollectionAdoptionRequired}
		}
		d := want.AdoptedDescription
		u.Description, adopting = &d, true
	}
	if w := want.Spec.Transform; normalizeTransform(w) != normalizeTransform(c.Transform) {
		if normalizeTransform(w) == "" {
			w = IdentityTransform
		}
		u.Transform = &w
	}
	if u.Description != nil || u.Transform != nil {
		return CollectionAction{Kind: CollectionUpdate, Update: u, Adopting: adopting}
	}
	if failed, msg, refused := sourceFailure(c); failed {
		return CollectionAction{Kind: CollectionSourceFailed, Message: msg, CredentialsRefused: refused}
	}
	if c.Status != CollectionReady {
		return CollectionAction{Kind: CollectionWait, Message: fmt.Sprintf("it is %s", orUnknown(c.Status))}
	}
	return CollectionAction{Kind: CollectionNone}
}

// sourceFailure reports the first source that cannot ingest, and whether
// AWS refused its credentials.
func sourceFailure(c Collection) (failed bool, msg string, credentialsRefused bool) {
	for _, s := range c.Sources {
		switch s.State {
		case SourceError, SourceSuspended:
			msg := fmt.Sprintf("its source reading stream %s is %s", orUnknown(s.Stream), s.State)
			if m := strings.TrimSpace(s.Message); m != "" {
				msg += ": " + Redact(m)
			}
			return true, msg, credentialsRefusal(s.Message)
		}
	}
	return false, "", false
}

// awsCredentialErrors are the error codes AWS answers a request with when
// the credentials themselves are the problem.
var awsCredentialErrors = []string{
	"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
	"AccessDeniedException", "IncompleteSignature", "MissingAuthenticationToken", "InvalidClientTokenId",
}

func credentialsRefusal(msg string) bool {
	for _, code := range awsCredentialErrors {
		if strings.Contains(msg, code) {
			return true
		}
	}
	return false
}

func orUnknown(s string) string {
	if s == "" {
		return "in an unknown state"
	}
	return s
}

// normalizeTransform treats "no transformation" and the identity query
// alike, and whitespace as insignificant.
func normalizeTransform(sql string) string {
	f := strings.Join(strings.Fields(sql), " ")
	if f == "" || strings.EqualFold(f, IdentityTransform) {
		return ""
	}
	return f
}
