package analytics

// WatchIngestEvents returns, for the collection ws.name as it is now, a
// function that says whether the server still holds its ingest-event pacer
// and whether that pacer was stopped.
func WatchIngestEvents(s *Server, ws, name string) func() (held, stopped bool) {
	c, err := s.findCollection(ws, name)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	e := s.events[c.Table]
	s.mu.Unlock()
	return func() (held, stopped bool) {
		s.mu.Lock()
		held = e != nil && s.events[c.Table] == e
		s.mu.Unlock()
		if e != nil {
			e.mu.Lock()
			stopped = e.stopped
			e.mu.Unlock()
		}
		return held, stopped
	}
}
