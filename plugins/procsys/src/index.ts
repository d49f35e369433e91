// The procsys plugin's library; its commands arrive with its issue.
export {};
