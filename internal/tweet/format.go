package tweet

import (
	"encoding/json"
	"fmt"
)

// Format names an input format of replayed messages.
type Format string

// Input formats.
const (
	FormatAuto      Format = "auto"
	FormatCanonical Format = "canonical"
	FormatXV2       Format = "x-v2"
	FormatV11       Format = "v1.1"
)

// ParseFormat validates a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatAuto, FormatCanonical, FormatXV2, FormatV11:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want auto, canonical, x-v2 or v1.1)", s)
}

// formatProbe holds just enough of a message to tell the formats apart: a v2
// message has data or errors; a canonical document is a v1.1 subset whose
// source names a streamdash source and which has no numeric id.
type formatProbe struct {
	Data   json.RawMessage `json:"data"`
	Errors json.RawMessage `json:"errors"`
	ID     json.RawMessage `json:"id"`
	Source string          `json:"source"`
}

// Detect tells which format raw is in.
func Detect(raw []byte) (Format, error) {
	var p formatProbe
	if err := decodeJSON(raw, &p); err != nil {
		return "", err
	}
	switch {
	case len(p.Data) > 0 || len(p.Errors) > 0:
		return FormatXV2, nil
	case len(p.ID) == 0 && (p.Source == SourceX || p.Source == SourceBluesky || p.Source == SourceReplay):
		return FormatCanonical, nil
	default:
		return FormatV11, nil
	}
}

// Convert turns one replayed message in format f into a document. Documents
// converted from raw X messages carry source "replay"; canonical documents
// keep theirs.
func Convert(f Format, raw []byte) (Document, error) {
	if f == FormatAuto {
		var err error
		if f, err = Detect(raw); err != nil {
			return Document{}, err
		}
	}
	var d Document
	var err error
	switch f {
	case FormatCanonical:
		return DecodeCanonical(raw)
	case FormatXV2:
		d, err = FromXV2(raw)
	case FormatV11:
		d, err = FromV11(raw)
	default:
		return Document{}, fmt.Errorf("unknown format %q", f)
	}
	if err != nil {
		return Document{}, err
	}
	d.Source = SourceReplay
	return d, nil
}
