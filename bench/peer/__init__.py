"""Running the ThingsBoard IoT Gateway beside minegate for the end-to-end benchmark."""
