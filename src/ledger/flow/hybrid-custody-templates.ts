/**
 * Flow's Hybrid Custody standard (onflow/hybrid-custody; Flow docs "Account Linking" and
 * "Working With Parent Accounts"): the four transactions Latch sends to link its account, as a
 * child, to a wallet the user owns (the parent). The script bodies are the repository's own
 * Cadence 1.0 transactions; only the `import "X"` lines are resolved to each network's addresses
 * (from the repository's flow.json and the hosted-implementations table of its README), because a
 * transaction sent to an access node must name its imports by address.
 *
 *   link           transactions/hybrid-custody/setup_owned_account_and_publish_to_parent.cdc
 *                  (#allowAccountLinking; the child publishes a ChildAccount capability)
 *   redeem         transactions/hybrid-custody/redeem_account.cdc (the parent claims it into
 *                  its HybridCustody.Manager)
 *   child-transfer transactions/hybrid-custody/send_child_ft_with_parent.cdc, with FlowToken as
 *                  the token (the parent moves the child's FLOW through the capability)
 *   unlink         transactions/hybrid-custody/remove_parent_from_child.cdc
 *
 * Pure; browser-safe.
 */
import type { FlowNetwork } from './cadence-templates.js';

/** Where the contracts and the hosted factory / filter live on each network. */
export const HYBRID_CUSTODY_ADDRESSES: Record<
  FlowNetwork,
  { HybridCustody: string; CapabilityFactory: string; CapabilityFilter: string; CapabilityDelegator: string; MetadataViews: string; ViewResolver: string; FungibleTokenMetadataViews: string; factoryManager: string; allowAllFilter: string }
> = {
  // flow.json: on the emulator every contract and the factory / filter resources are deployed by
  // the service account.
  emulator: {
    HybridCustody: '0xf8d6e0586b0a20c7',
    CapabilityFactory: '0xf8d6e0586b0a20c7',
    CapabilityFilter: '0xf8d6e0586b0a20c7',
    CapabilityDelegator: '0xf8d6e0586b0a20c7',
    MetadataViews: '0xf8d6e0586b0a20c7',
    ViewResolver: '0xf8d6e0586b0a20c7',
    FungibleTokenMetadataViews: '0xee82856bf20e2aa6',
    factoryManager: '0xf8d6e0586b0a20c7',
    allowAllFilter: '0xf8d6e0586b0a20c7',
  },
  // README "Hosted CapabilityFactory & CapabilityFilter implementations": the NFT + FT factory
  // and the AllowAllFilter (the parent may take every capability the factory can make).
  testnet: {
    HybridCustody: '0x294e44e1ec6993c6',
    CapabilityFactory: '0x294e44e1ec6993c6',
    CapabilityFilter: '0x294e44e1ec6993c6',
    CapabilityDelegator: '0x294e44e1ec6993c6',
    MetadataViews: '0x631e88ae7f1d7c20',
    ViewResolver: '0x631e88ae7f1d7c20',
    FungibleTokenMetadataViews: '0x9a0766d93b6608b7',
    factoryManager: '0x1b7fa5972fcb8af5',
    allowAllFilter: '0xe2664be06bb0fe62',
  },
  mainnet: {
    HybridCustody: '0xd8a7e05a7ac670c0',
    CapabilityFactory: '0xd8a7e05a7ac670c0',
    CapabilityFilter: '0xd8a7e05a7ac670c0',
    CapabilityDelegator: '0xd8a7e05a7ac670c0',
    MetadataViews: '0x1d7e57aa55817448',
    ViewResolver: '0x1d7e57aa55817448',
    FungibleTokenMetadataViews: '0xf233dcee88fe0abe',
    factoryManager: '0x071d382668250606',
    allowAllFilter: '0x78e93a79b05d0d7d',
  },
};

type Core = { FungibleToken: string; FlowToken: string };

// The factory capability is `&CapabilityFactory.Manager`, the type Cadence 1.0 HybridCustody's
// `OwnedAccount.publishToParent(parentAddress:factory:filter:)` takes (onflow/hybrid-custody
// contracts/HybridCustody.cdc; transactions/hybrid-custody/setup_owned_account_and_publish_to_parent.cdc).
export function linkScript(n: FlowNetwork): string {
  const a = HYBRID_CUSTODY_ADDRESSES[n];
  return `#allowAccountLinking

import MetadataViews from ${a.MetadataViews}
import ViewResolver from ${a.ViewResolver}

import HybridCustody from ${a.HybridCustody}
import CapabilityFactory from ${a.CapabilityFactory}
import CapabilityFilter from ${a.CapabilityFilter}
import CapabilityDelegator from ${a.CapabilityDelegator}

/// This transaction configures an OwnedAccount in the signer if needed, and proceeds to create a ChildAccount 
/// using CapabilityFactory.Manager and CapabilityFilter.Filter Capabilities from the given addresses. A
/// Capability on the ChildAccount is then published to the specified parent account. 
///
transaction(
    parent: Address,
    factoryAddress: Address,
    filterAddress: Address,
    name: String?,
    desc: String?,
    thumbnailURL: String?
) {
    prepare(acct: auth(Storage, Capabilities) &Account) {
        // Configure OwnedAccount if it doesn't exist
        if acct.storage.borrow<&HybridCustody.OwnedAccount>(from: HybridCustody.OwnedAccountStoragePath) == nil {
            var acctCap = acct.capabilities.account.issue<auth(Storage, Contracts, Keys, Inbox, Capabilities) &Account>()
            let ownedAccount <- HybridCustody.createOwnedAccount(acct: acctCap)
            acct.storage.save(<-ownedAccount, to: HybridCustody.OwnedAccountStoragePath)
        }

        for c in acct.capabilities.storage.getControllers(forPath: HybridCustody.OwnedAccountStoragePath) {
            c.delete()
        }


        acct.capabilities.storage.issue<&{HybridCustody.BorrowableAccount, HybridCustody.OwnedAccountPublic, ViewResolver.Resolver}>(HybridCustody.OwnedAccountStoragePath)
        acct.capabilities.publish(
            acct.capabilities.storage.issue<&{HybridCustody.OwnedAccountPublic, ViewResolver.Resolver}>(HybridCustody.OwnedAccountStoragePath),
            at: HybridCustody.OwnedAccountPublicPath
        )

        let owned = acct.storage.borrow<auth(HybridCustody.Owner) &HybridCustody.OwnedAccount>(from: HybridCustody.OwnedAccountStoragePath)
            ?? panic("owned account not found")
        
        // Set the display metadata for the OwnedAccount
        if name != nil && desc != nil && thumbnailURL != nil {
            let thumbnail = MetadataViews.HTTPFile(url: thumbnailURL!)
            let display = MetadataViews.Display(name: name!, description: desc!, thumbnail: thumbnail)
            owned.setDisplay(display)
        }

        // Get CapabilityFactory & CapabilityFilter Capabilities
        let factory = getAccount(factoryAddress).capabilities.get<&CapabilityFactory.Manager>(CapabilityFactory.PublicPath)
        assert(factory.check(), message: "factory address is not configured properly")

        let filter = getAccount(filterAddress).capabilities.get<&{CapabilityFilter.Filter}>(CapabilityFilter.PublicPath)
        assert(filter.check(), message: "capability filter is not configured properly")

        // Finally publish a ChildAccount capability on the signing account to the specified parent
        owned.publishToParent(parentAddress: parent, factory: factory, filter: filter)
    }
}
`;
}

export function redeemScript(n: FlowNetwork): string {
  const a = HYBRID_CUSTODY_ADDRESSES[n];
  return `import MetadataViews from ${a.MetadataViews}
import ViewResolver from ${a.ViewResolver}

import HybridCustody from ${a.HybridCustody}
import CapabilityFilter from ${a.CapabilityFilter}

transaction(childAddress: Address, filterAddress: Address?, filterPath: PublicPath?) {
    prepare(acct: auth(Storage, Capabilities, Inbox) &Account) {
        var filter: Capability<&{CapabilityFilter.Filter}>? = nil
        if filterAddress != nil && filterPath != nil {
            filter = getAccount(filterAddress!).capabilities.get<&{CapabilityFilter.Filter}>(filterPath!)
        }

        if acct.storage.borrow<&HybridCustody.Manager>(from: HybridCustody.ManagerStoragePath) == nil {
            let m <- HybridCustody.createManager(filter: filter)
            acct.storage.save(<- m, to: HybridCustody.ManagerStoragePath)

            for c in acct.capabilities.storage.getControllers(forPath: HybridCustody.ManagerStoragePath) {
                c.delete()
            }

            acct.capabilities.unpublish(HybridCustody.ManagerPublicPath)

            acct.capabilities.publish(
                acct.capabilities.storage.issue<&{HybridCustody.ManagerPublic}>(HybridCustody.ManagerStoragePath),
                at: HybridCustody.ManagerPublicPath
            )

            acct.capabilities.storage.issue<auth(HybridCustody.Manage) &{HybridCustody.ManagerPrivate, HybridCustody.ManagerPublic}>(HybridCustody.ManagerStoragePath)
        }

        let inboxName = HybridCustody.getChildAccountIdentifier(acct.address)
        let cap = acct.inbox.claim<auth(HybridCustody.Child) &{HybridCustody.AccountPrivate, HybridCustody.AccountPublic, ViewResolver.Resolver}>(inboxName, provider: childAddress)
            ?? panic("child account cap not found")

        let manager = acct.storage.borrow<auth(HybridCustody.Manage) &HybridCustody.Manager>(from: HybridCustody.ManagerStoragePath)
            ?? panic("manager no found")

        manager.addAccount(cap: cap)
    }
}
`;
}

export function childTransferScript(n: FlowNetwork, core: Core): string {
  const a = HYBRID_CUSTODY_ADDRESSES[n];
  return `import FungibleToken from ${core.FungibleToken}
import FlowToken from ${core.FlowToken}

import HybridCustody from ${a.HybridCustody}
import FungibleTokenMetadataViews from ${a.FungibleTokenMetadataViews}

transaction(amount: UFix64, to: Address, child: Address) {

    // The Vault resource that holds the tokens that are being transferred
    let paymentVault: @{FungibleToken.Vault}
    let vaultData: FungibleTokenMetadataViews.FTVaultData

    prepare(signer: auth(Storage) &Account) {
        // signer is the parent account
        // get the manager resource and borrow childAccount
        let m = signer.storage.borrow<auth(HybridCustody.Manage) &HybridCustody.Manager>(from: HybridCustody.ManagerStoragePath)
            ?? panic("manager does not exist")
        let childAcct = m.borrowAccount(addr: child) ?? panic("child account not found")
        
        self.vaultData = FlowToken.resolveContractView(resourceType: nil, viewType: Type<FungibleTokenMetadataViews.FTVaultData>()) as! FungibleTokenMetadataViews.FTVaultData?
            ?? panic("Could not get the vault data view for FlowToken")

        //get Ft cap from child account
        let capType = Type<auth(FungibleToken.Withdraw) &{FungibleToken.Provider}>()
        let controllerID = childAcct.getControllerIDForType(type: capType, forPath: self.vaultData.storagePath)
            ?? panic("no controller found for capType")
        
        let cap = childAcct.getCapability(controllerID: controllerID, type: capType) ?? panic("no cap found")
        let providerCap = cap as! Capability<auth(FungibleToken.Withdraw) &{FungibleToken.Provider}>
        assert(providerCap.check(), message: "invalid provider capability")
        
        // Get a reference to the child's stored vault
        let vaultRef = providerCap.borrow()!

        // Withdraw tokens from the signer's stored vault
        self.paymentVault <- vaultRef.withdraw(amount: amount)
    }

    execute {

        // Get the recipient's public account object
        let recipient = getAccount(to)

        // Get a reference to the recipient's Receiver
        let receiverRef = recipient.capabilities.get<&{FungibleToken.Receiver}>(self.vaultData.receiverPath)!.borrow()
			?? panic("Could not borrow receiver reference to the recipient's Vault")

        // Deposit the withdrawn tokens in the recipient's receiver
        receiverRef.deposit(from: <-self.paymentVault)
    }
}
`;
}

export function unlinkScript(n: FlowNetwork): string {
  const a = HYBRID_CUSTODY_ADDRESSES[n];
  return `import HybridCustody from ${a.HybridCustody}

transaction(parent: Address) {
    prepare(acct: auth(Storage) &Account) {
        let owned = acct.storage.borrow<auth(HybridCustody.Owner) &HybridCustody.OwnedAccount>(from: HybridCustody.OwnedAccountStoragePath)
            ?? panic("owned not found")

        owned.removeParent(parent: parent)

        let manager = getAccount(parent).capabilities.get<&{HybridCustody.ManagerPublic}>(HybridCustody.ManagerPublicPath)
            .borrow() ?? panic("manager not found")
        let children = manager.getChildAddresses()
        assert(!children.contains(acct.address), message: "removed child is still in manager resource")
    }
}
`;
}

/**
 * Read-only scripts for `getLinks` on a Flow network: HybridCustody's own
 * scripts/hybrid-custody/get_parents_from_child.cdc and get_child_addresses.cdc in Cadence 1.0,
 * answering an empty result instead of panicking when the account holds no OwnedAccount or
 * Manager (an account that was never linked).
 */
export function parentStatusesScript(n: FlowNetwork): string {
  return `import HybridCustody from ${HYBRID_CUSTODY_ADDRESSES[n].HybridCustody}

access(all) fun main(child: Address): {Address: Bool} {
    let acct = getAuthAccount<auth(Storage) &Account>(child)
    if let owned = acct.storage.borrow<&HybridCustody.OwnedAccount>(from: HybridCustody.OwnedAccountStoragePath) {
        return owned.getParentStatuses()
    }
    return {}
}
`;
}

export function childAddressesScript(n: FlowNetwork): string {
  return `import HybridCustody from ${HYBRID_CUSTODY_ADDRESSES[n].HybridCustody}

access(all) fun main(parent: Address): [Address] {
    let acct = getAuthAccount<auth(Storage) &Account>(parent)
    if let manager = acct.storage.borrow<&HybridCustody.Manager>(from: HybridCustody.ManagerStoragePath) {
        return manager.getChildAddresses()
    }
    return []
}
`;
}
