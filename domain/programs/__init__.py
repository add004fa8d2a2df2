"""The program as an event-sourced aggregate (issue 14, DESIGN §10): its events (:mod:`.events`), commands
(:mod:`.commands`), state (:mod:`.state`) and pure core (:mod:`.core`). Import the modules themselves: this package
imports nothing, so :mod:`domain.catalog` can read the event classes while :mod:`domain.envelope` is loading."""
