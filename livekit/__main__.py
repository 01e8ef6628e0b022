from livekit.cli import main

main()
