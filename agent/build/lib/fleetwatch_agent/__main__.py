from fleetwatch_agent.cli import main

main()
