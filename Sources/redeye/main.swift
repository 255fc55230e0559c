import RedeyeCommands

Redeye.main()
