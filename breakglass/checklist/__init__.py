"""checklist"""
