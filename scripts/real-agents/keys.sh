# Fixed dummy credentials for agents that talk only to the fake model server.
# Sourced by agent-home.sh and launch.sh; nothing secret.
MOSAIC_FAKE_ANTHROPIC_KEY=sk-ant-api03-mosaic-fake-model-key-0000000000000000
MOSAIC_FAKE_OPENAI_KEY=sk-mosaic-fake-model-key-0000000000000000
