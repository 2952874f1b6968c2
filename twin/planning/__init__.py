"""The urban-planning pilot: buildings (real where imported, a seeded synthetic stock elsewhere), zones
and their rules, planning indicators, walking access to kindergartens and schools, and what-if
proposals whose reports ask the transport and air pilots through the core's inputs."""
